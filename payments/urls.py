from django.urls import path

from payments import views

urlpatterns = [
    path("intents", views.IntentView.as_view(), name="payment-intent"),
    path("sandbox/confirm", views.SandboxConfirmView.as_view(), name="payment-sandbox-confirm"),
    path("refunds", views.RefundCreateView.as_view(), name="refund-create"),
    path("refunds/<uuid:refund_id>", views.RefundDetailView.as_view(), name="refund-detail"),
    path("refunds/<uuid:refund_id>/approve", views.RefundApproveView.as_view(), name="refund-approve"),
    path("refunds/<uuid:refund_id>/reject", views.RefundRejectView.as_view(), name="refund-reject"),
]

from payments import views
from tutoring.api.routers import ApiRouter

router = ApiRouter()
router.register("intents", views.PaymentIntentViewSet, basename="payment-intent")
router.register("sandbox", views.SandboxPaymentViewSet, basename="payment-sandbox")
router.register("refunds", views.RefundViewSet, basename="refund")

urlpatterns = router.urls

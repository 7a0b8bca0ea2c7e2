from django.urls import path

from withdrawals import views

# Mounted under /api/ (CONTRACT §6 has both /api/withdrawals and /api/withdrawals/...).
urlpatterns = [
    path("withdrawals", views.WithdrawalListCreateView.as_view(), name="withdrawal-list"),
    path("withdrawals/accounts", views.AccountView.as_view(), name="withdrawal-account"),
    path("withdrawals/accounts/links", views.AccountLinkView.as_view(), name="withdrawal-account-link"),
    path("withdrawals/stats", views.StatsView.as_view(), name="withdrawal-stats"),
    path("withdrawals/<uuid:withdrawal_id>/approve", views.WithdrawalApproveView.as_view(), name="withdrawal-approve"),
    path("withdrawals/<uuid:withdrawal_id>/reject", views.WithdrawalRejectView.as_view(), name="withdrawal-reject"),
]

# Pages the browser opens during onboarding, outside /api/.
pages = [
    path("onboarding/refresh/<str:token>", views.onboarding_refresh, name="onboarding-refresh"),
    path("sandbox/onboarding/<str:token>", views.sandbox_onboarding, name="sandbox-onboarding"),
]

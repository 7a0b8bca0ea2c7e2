from django.urls import path

from tutoring.api.routers import ApiRouter
from withdrawals import views

# Mounted under /api/: the resources are /api/withdrawals and /api/withdrawals/accounts.
router = ApiRouter()
router.register("withdrawals/accounts", views.WithdrawalAccountViewSet, basename="withdrawal-account")
router.register("withdrawals", views.WithdrawalViewSet, basename="withdrawal")
urlpatterns = router.urls

# Pages the browser opens during onboarding, outside /api/.
pages = [
    path("onboarding/refresh/<str:token>", views.onboarding_refresh, name="onboarding-refresh"),
    path("sandbox/onboarding/<str:token>", views.sandbox_onboarding, name="sandbox-onboarding"),
]

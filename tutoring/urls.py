from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from live.webhooks import TwilioVideoCallbackView
from payments.webhooks import StripeWebhookView
from tutoring import views
from tutoring.api.routers import ApiRouter
from tutoring.health import healthz
from withdrawals.urls import pages as withdrawal_pages

HOME_CONTEXT = {"sandbox": settings.STRIPE_SANDBOX or settings.TWILIO_SANDBOX}

router = ApiRouter()
router.register("auth", views.AuthViewSet, basename="auth")
router.register("tutors", views.TutorViewSet, basename="tutor")
router.register("bookings", views.BookingViewSet, basename="booking")

api = [
    *router.urls,
    path("live/", include("live.urls")),
    path("payments/", include("payments.urls")),
    path("", include("withdrawals.urls")),
    # Provider webhooks are plain views: authenticated by their signatures, never rate limited.
    path("webhooks/stripe", StripeWebhookView.as_view(), name="stripe-webhook"),
    path("webhooks/twilio/video", TwilioVideoCallbackView.as_view(), name="twilio-video-callback"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html", extra_context=HOME_CONTEXT), name="home"),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("withdrawals/", include(withdrawal_pages)),
    path("api/", include(api)),
]

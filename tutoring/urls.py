from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from live import pages as live_pages
from live.webhooks import TwilioCompositionCallbackView, TwilioVideoCallbackView
from marketplace import pages as market_pages
from payments.webhooks import StripeWebhookView
from tutoring import pages, views
from tutoring.api.routers import ApiRouter
from tutoring.health import healthz
from withdrawals import pages as withdrawal_pages
from withdrawals.urls import pages as onboarding_pages

DOCS_CSP = {"style-src": ["'sha256-MMpT0iDxyjALd9PdfepImGX3DBfJPXZ4IlDWdPAgtn0='"], "img-src": ["data:"]}

router = ApiRouter()
router.register("auth", views.AuthViewSet, basename="auth")
router.register("tutors", views.TutorViewSet, basename="tutor")
router.register("bookings", views.BookingViewSet, basename="booking")

api = [
    # The classroom's reads first: they are the API's most frequent requests, and resolving tries each
    # pattern in turn (the 17 of the router cost a participants read ~15 µs). No other prefix overlaps.
    path("live/", include("live.urls")),
    *router.urls,
    path("payments/", include("payments.urls")),
    path("", include("withdrawals.urls")),
    # Provider webhooks are plain views: authenticated by their signatures, never rate limited.
    path("webhooks/stripe", StripeWebhookView.as_view(), name="stripe-webhook"),
    path("webhooks/twilio/video", TwilioVideoCallbackView.as_view(), name="twilio-video-callback"),
    path("webhooks/twilio/composition", TwilioCompositionCallbackView.as_view(), name="twilio-composition-callback"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file (`?script`), so the site's policy
    # holds; its page adds only the hash of drf-spectacular's own inline <style> and Swagger UI's
    # data: icons.
    path("docs/", csp_update(DOCS_CSP)(SpectacularSwaggerSplitView.as_view(url_name="schema")), name="docs"),
]

urlpatterns = [
    # First: resolving walks the list in order, and the API and the probe are the most frequent requests
    # (no page lives under api/ or at healthz, so the order changes nothing else).
    path("api/", include(api)),
    path("healthz", healthz, name="healthz"),
    # The pages (docs/pages.md), signed in with Django's session.
    *pages.urlpatterns,
    *live_pages.urlpatterns,
    *market_pages.urlpatterns,
    *withdrawal_pages.urlpatterns,
    path("admin/", admin.site.urls),
    path("withdrawals/", include(onboarding_pages)),
]

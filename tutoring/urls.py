from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from live.webhooks import TwilioVideoCallbackView
from payments.webhooks import StripeWebhookView
from tutoring import views
from tutoring.health import healthz
from withdrawals.urls import pages as withdrawal_pages

HOME_CONTEXT = {"sandbox": settings.STRIPE_SANDBOX or settings.TWILIO_SANDBOX}

api = [
    path("auth/register", views.RegisterView.as_view(), name="register"),
    path("auth/token", views.TokenView.as_view(), name="token"),
    path("auth/token/refresh", views.TokenRefreshRotateView.as_view(), name="token-refresh"),
    path("auth/me", views.MeView.as_view(), name="me"),
    path("tutors", views.TutorListView.as_view(), name="tutor-list"),
    path("tutors/me", views.TutorMeView.as_view(), name="tutor-me"),
    path("tutors/<uuid:tutor_id>", views.TutorDetailView.as_view(), name="tutor-detail"),
    path("bookings", views.BookingListCreateView.as_view(), name="booking-list"),
    path("bookings/<uuid:booking_id>", views.BookingDetailView.as_view(), name="booking-detail"),
    path("bookings/<uuid:booking_id>/cancel", views.BookingCancelView.as_view(), name="booking-cancel"),
    path("live/", include("live.urls")),
    path("payments/", include("payments.urls")),
    path("", include("withdrawals.urls")),
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

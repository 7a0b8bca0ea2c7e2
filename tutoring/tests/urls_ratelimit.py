"""Two payment-group views: requests to either count against one budget (docs/api.md "Conventions")."""

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from tutoring.api.ratelimit import ApiRateLimit, PaymentRateLimit
from tutoring.urls import urlpatterns as real_urlpatterns


class PaymentLikeView(APIView):
    throttle_classes = (ApiRateLimit, PaymentRateLimit)

    def get(self, request):
        return Response({"ok": True})

    def post(self, request):
        return Response({"ok": True}, status=201)


urlpatterns = [
    path("api/_test/pay-a", PaymentLikeView.as_view()),
    path("api/_test/pay-b", PaymentLikeView.as_view()),
    *real_urlpatterns,
]

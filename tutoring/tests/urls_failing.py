"""Views that fail on purpose, to prove the error body of 500s inside and outside DRF."""

from django.http import HttpResponse
from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from tutoring.urls import urlpatterns as real_urlpatterns


class ExplodingApiView(APIView):
    permission_classes = (AllowAny,)

    def get(self, request):
        raise RuntimeError("SELECT secret FROM vault; sk_live_do_not_leak")


def exploding_django_view(request):
    raise RuntimeError("SELECT secret FROM vault; sk_live_do_not_leak")


def plain_text_error_view(request):
    return HttpResponse("<h1>Bad gateway</h1>", status=502, content_type="text/html")


urlpatterns = [
    path(
        "api/_test/",
        include(
            [
                path("drf-500", ExplodingApiView.as_view()),
                path("django-500", exploding_django_view),
                path("html-error", plain_text_error_view),
            ]
        ),
    ),
    *real_urlpatterns,
]

from django.urls import path

from live import views
from tutoring.api.routers import ApiRouter

router = ApiRouter()
router.register("sessions", views.SessionViewSet, basename="live-session")

urlpatterns = [
    path("sessions/<uuid:session_id>/recording/media", views.RecordingMediaView.as_view(), name="live-recording-media"),
    *router.urls,
]

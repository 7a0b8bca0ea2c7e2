from django.urls import path

from live import views

urlpatterns = [
    path("sessions", views.SessionCreateView.as_view(), name="live-session-create"),
    path("sessions/<uuid:session_id>", views.SessionDetailView.as_view(), name="live-session-detail"),
    path("sessions/<uuid:session_id>/token", views.SessionTokenView.as_view(), name="live-session-token"),
    path("sessions/<uuid:session_id>/start", views.SessionStartView.as_view(), name="live-session-start"),
    path("sessions/<uuid:session_id>/end", views.SessionEndView.as_view(), name="live-session-end"),
    path(
        "sessions/<uuid:session_id>/participants", views.ParticipantListView.as_view(), name="live-session-participants"
    ),
    path("sessions/<uuid:session_id>/messages", views.MessageListView.as_view(), name="live-session-messages"),
]

"""Where the realtime transports live under the ASGI application (see `tutoring.asgi`)."""

from django.urls import path

from live.realtime.consumers import LiveConsumer

websocket_urlpatterns = [
    path("ws/live/", LiveConsumer.as_asgi()),
]

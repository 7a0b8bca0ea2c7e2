"""The ASGI entry point (daphne): plain HTTP, and the realtime transports under /socket.io/ and /ws/.

`/socket.io/` (both HTTP long-polling and WebSocket scopes) goes to python-socketio, `/ws/live/` to the
Channels consumer, every other HTTP request to Django.
"""

import functools
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tutoring.settings")
django_asgi_app = get_asgi_application()


def _leave_request_bodies_to_django() -> None:
    """Under daphne, Twisted parses every POST form body itself before the application sees it (into
    arguments daphne never uses) and answers a malformed multipart body with a bare 400 of its own.
    Switched off, the body reaches Django, which refuses it in the API's error body (400/415)."""
    from daphne.http_protocol import WebRequest

    if getattr(WebRequest, "_leaves_bodies_to_django", False):
        return
    init = WebRequest.__init__

    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self._parsePOSTFormSubmission = False

    WebRequest.__init__ = __init__
    WebRequest._leaves_bodies_to_django = True


_leave_request_bodies_to_django()


class _WhenFormatted:
    """`fn(*args, **kwargs)`, computed only if a log line that holds it is written."""

    __slots__ = ("call",)

    def __init__(self, fn, *args, **kwargs) -> None:
        self.call = functools.partial(fn, *args, **kwargs)

    def __format__(self, spec: str) -> str:
        return format(self.call(), spec)

    def __str__(self) -> str:
        return str(self.call())


def _format_autobahn_debug_values_when_logged() -> None:
    """autobahn (daphne's WebSocket layer) colours the values of a debug line with click before it knows
    whether the line is written: four `click.style` calls for every frame sent and every read from a
    socket, ~3% of the realtime event loop under chat load (bench/chat_profile.py), for lines that are
    never written. Its two modules get `hltype`/`hlval` that do the same only when a line is formatted."""
    from autobahn import util
    from autobahn.twisted import websocket as twisted_websocket
    from autobahn.websocket import protocol

    for module in (protocol, twisted_websocket):
        if module.hltype is util.hltype:
            module.hltype = functools.partial(_WhenFormatted, util.hltype)
        if module.hlval is util.hlval:
            module.hlval = functools.partial(_WhenFormatted, util.hlval)


_format_autobahn_debug_values_when_logged()


def _send_at_once_when_nothing_is_waiting() -> None:
    """Twisted's TCP transport never sends in `write`: it buffers and asks the reactor to watch the
    socket, so every WebSocket frame waited for the event loop's next turn (after whatever else was
    ready) and cost two `epoll_ctl` calls. With nothing buffered the socket can take it, so `write` now
    sends at once and buffers only what the kernel did not take, in order before anything written
    later. A TLS connection, and a lost one, go the usual way (which also reports the loss). At 400
    chat msg/s: p90 and p99 lower in three pairs of runs of three, CPU no higher (bench/README.md)."""
    from twisted.internet import tcp

    if getattr(tcp.Connection, "_sends_at_once", False):
        return
    buffered_write = tcp.Connection.write

    def write(self, data):
        if (
            type(data) is bytes
            and data
            and self.connected
            and not self.TLS
            and not self._writeDisconnected
            and not self._tempDataBuffer
            and self.offset == len(self.dataBuffer)
        ):
            sent = self.writeSomeData(data)
            if isinstance(sent, int):
                if sent == len(data):
                    return
                data = data[sent:]
        buffered_write(self, data)

    tcp.Connection.write = write
    tcp.Connection._sends_at_once = True


_send_at_once_when_nothing_is_waiting()

# Django must be set up before the realtime modules import models.
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from live.realtime import socketio as live_socketio  # noqa: E402
from live.realtime.routing import websocket_urlpatterns  # noqa: E402


class SocketIORouter:
    """Send `/socket.io/...` to the socket.io app and everything else of the same scope type to `default`."""

    prefix = f"/{live_socketio.PATH}/"

    def __init__(self, default):
        self.default = default

    async def __call__(self, scope, receive, send):
        if scope["path"].startswith(self.prefix):
            return await live_socketio.app(scope, receive, send)
        return await self.default(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": SocketIORouter(django_asgi_app),
        "websocket": SocketIORouter(URLRouter(websocket_urlpatterns)),
    }
)

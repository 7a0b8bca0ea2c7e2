import asyncio
import threading

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from live.realtime import group_name
from live.tests import twilio_stub
from live.tests.factories import PaidBookingFactory, SessionFactory

ACCOUNT_SID = "AC" + "a1" * 16
API_KEY_SID = "SK" + "b2" * 16
API_KEY_SECRET = "api-key-secret-for-tests-0123456789abcdef"
AUTH_TOKEN = "auth-token-for-tests-0123456789abcdef"


@pytest.fixture
def twilio(settings):
    """Real Twilio settings, with the Video API served by a local stub."""
    stub = twilio_stub.TwilioStub(account_sid=ACCOUNT_SID)
    server = twilio_stub.start(stub)
    settings.TWILIO_SANDBOX = False
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_API_KEY_SID = API_KEY_SID
    settings.TWILIO_API_KEY_SECRET = API_KEY_SECRET
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_VIDEO_BASE_URL = stub.url
    settings.SITE_URL = "https://class.example.test"
    yield stub
    server.shutdown()
    server.server_close()


@pytest.fixture
def booking(db):
    return PaidBookingFactory()


@pytest.fixture
def session(db):
    return SessionFactory()


class _LayerLoop:
    """One event loop, in a thread, for every subscriber of the run: channels-redis's pub/sub layer
    keeps subscriptions per event loop, so a channel must be created, joined and
    read on the same one (each `async_to_sync` call would bring a new loop)."""

    loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def run(cls, coro):
        if cls.loop is None:
            cls.loop = asyncio.new_event_loop()
            threading.Thread(target=cls.loop.run_forever, name="test-layer-loop", daemon=True).start()
        return asyncio.run_coroutine_threadsafe(coro, cls.loop).result()


class Subscriber:
    """A channel in a session's group on the real channel layer, as a transport would hold one."""

    def __init__(self, session_id):
        self.layer = get_channel_layer()
        self.group = group_name(session_id)
        self.channel = _LayerLoop.run(self.layer.new_channel())
        _LayerLoop.run(self.layer.group_add(self.group, self.channel))

    def receive(self) -> dict:
        # The bound only keeps a broken test from hanging; every message awaited here was published.
        return _LayerLoop.run(asyncio.wait_for(self.layer.receive(self.channel), timeout=10))

    def mark(self) -> dict:
        """Publish a marker and return it: what arrives before it was published before it (per-channel FIFO)."""
        marker = {"type": "test.marker"}
        async_to_sync(self.layer.group_send)(self.group, marker)
        return marker

    def close(self):
        _LayerLoop.run(self.layer.group_discard(self.group, self.channel))


@pytest.fixture
def subscribe():
    subscribers = []

    def make(session_id) -> Subscriber:
        subscriber = Subscriber(session_id)
        subscribers.append(subscriber)
        return subscriber

    yield make
    for subscriber in subscribers:
        subscriber.close()

import pytest

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


"""The video providers: Twilio through the official SDK against a local stub, and the offline sandbox."""

import time
from datetime import UTC, datetime

import jwt
import pytest

from live.tests.conftest import ACCOUNT_SID, API_KEY_SECRET, API_KEY_SID
from live.video import get_video_provider
from live.video.sandbox import SandboxVideoProvider, sandbox_credentials
from live.video.twilio import TwilioVideoProvider
from tutoring.errors import ProviderError
from tutoring.tests.servers import free_port

CALLBACK = "https://class.example.test/api/webhooks/twilio/video"


def decode(token: str, secret: str) -> dict:
    return jwt.decode(token, secret, algorithms=["HS256"])


def test_settings_choose_the_provider(settings, twilio):
    assert isinstance(get_video_provider(), TwilioVideoProvider)
    settings.TWILIO_SANDBOX = True
    assert isinstance(get_video_provider(), SandboxVideoProvider)


class TestTwilio:
    def test_room_create_request_as_sent(self, twilio):
        room = TwilioVideoProvider().room_create(unique_name="booking-42")
        [request] = twilio.requests
        assert (request.method, request.path) == ("POST", "/v1/Rooms")
        assert request.auth == (API_KEY_SID, API_KEY_SECRET)
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert request.form == {
            "UniqueName": ["booking-42"],
            "Type": ["group"],
            "MaxParticipants": ["2"],
            "StatusCallback": [CALLBACK],
            "StatusCallbackMethod": ["POST"],
            "UnusedRoomTimeout": ["60"],
            "EmptyRoomTimeout": ["60"],
        }
        assert room.sid.startswith("RM") and len(room.sid) == 34
        assert twilio.rooms[room.sid]["unique_name"] == "booking-42"
        assert (room.name, room.status) == ("booking-42", "in-progress")

    def test_existing_room_is_fetched_by_its_unique_name(self, twilio):
        provider = TwilioVideoProvider()
        first = provider.room_create(unique_name="booking-42")
        again = provider.room_create(unique_name="booking-42")
        assert again == first
        assert [(r.method, r.path) for r in twilio.requests] == [
            ("POST", "/v1/Rooms"),
            ("POST", "/v1/Rooms"),  # 400, code 53113 "Room exists"
            ("GET", "/v1/Rooms/booking-42"),
        ]
        assert len(twilio.rooms) == 1

    def test_a_room_that_ended_is_replaced(self, twilio):
        provider = TwilioVideoProvider()
        first = provider.room_create(unique_name="booking-42")
        twilio.end_room(first.sid)
        second = provider.room_create(unique_name="booking-42")
        assert second.sid != first.sid and second.status == "in-progress"

    def test_room_complete_request_as_sent(self, twilio):
        provider = TwilioVideoProvider()
        room = provider.room_create(unique_name="booking-42")
        twilio.requests.clear()
        provider.room_complete(room_sid=room.sid)
        [request] = twilio.requests
        assert (request.method, request.path) == ("POST", f"/v1/Rooms/{room.sid}")
        assert request.form == {"Status": ["completed"]}
        assert request.auth == (API_KEY_SID, API_KEY_SECRET)
        assert twilio.rooms[room.sid]["status"] == "completed"

    def test_completing_an_ended_room_is_done(self, twilio):
        provider = TwilioVideoProvider()
        room = provider.room_create(unique_name="booking-42")
        twilio.end_room(room.sid)
        twilio.requests.clear()
        provider.room_complete(room_sid=room.sid)
        assert [(r.method, r.path) for r in twilio.requests] == [
            ("POST", f"/v1/Rooms/{room.sid}"),
            ("GET", f"/v1/Rooms/{room.sid}"),
        ]

    @pytest.mark.parametrize(
        "status,body",
        [
            (500, '{"code": 20500, "message": "Internal Server Error"}'),
            (503, "<html>Service Unavailable</html>"),
            (401, '{"code": 20003, "message": "Authenticate"}'),
            (200, '{"status": "in-progress"}'),  # a room without a sid
        ],
    )
    def test_provider_failures_are_provider_errors(self, twilio, status, body):
        twilio.fail_next(status, body)
        with pytest.raises(ProviderError) as info:
            TwilioVideoProvider().room_create(unique_name="booking-42")
        assert info.value.status_code == 502
        assert API_KEY_SECRET not in info.value.message

    def test_complete_failure_is_a_provider_error(self, twilio):
        provider = TwilioVideoProvider()
        room = provider.room_create(unique_name="booking-42")
        twilio.fail_next(500)
        twilio.fail_next(500)  # and the check whether it ended anyway
        with pytest.raises(ProviderError):
            provider.room_complete(room_sid=room.sid)
        assert twilio.rooms[room.sid]["status"] == "in-progress"

    def test_connection_failure_is_a_provider_error(self, twilio, settings):
        settings.TWILIO_VIDEO_BASE_URL = f"http://127.0.0.1:{free_port()}"
        with pytest.raises(ProviderError):
            TwilioVideoProvider().room_create(unique_name="booking-42")
        with pytest.raises(ProviderError):
            TwilioVideoProvider().room_complete(room_sid="RM" + "0" * 32)

    def test_access_token_for_one_identity_and_room(self, twilio, settings):
        settings.TWILIO_TOKEN_TTL_SECONDS = 900
        before = int(time.time())
        grant = TwilioVideoProvider().access_token(identity="user-1", room_name="booking-42")
        after = int(time.time())
        claims = decode(grant.token, API_KEY_SECRET)
        assert claims["grants"] == {"identity": "user-1", "video": {"room": "booking-42"}}
        assert claims["iss"] == API_KEY_SID
        assert claims["sub"] == ACCOUNT_SID
        assert before + 900 <= claims["exp"] <= after + 900
        assert grant.expires_at == datetime.fromtimestamp(claims["exp"], tz=UTC)
        assert (grant.identity, grant.room_name) == ("user-1", "booking-42")
        assert jwt.get_unverified_header(grant.token)["cty"] == "twilio-fpa;v=1"
        with pytest.raises(jwt.InvalidSignatureError):
            decode(grant.token, "another-secret-of-the-same-length-12345")
        assert twilio.requests == []  # tokens are signed locally


class TestSandbox:
    def test_rooms_look_like_twilio_and_repeat(self):
        provider = SandboxVideoProvider()
        room = provider.room_create(unique_name="booking-42")
        assert room.sid.startswith("RM") and len(room.sid) == 34
        int(room.sid[2:], 16)
        assert provider.room_create(unique_name="booking-42") == room
        assert provider.room_create(unique_name="booking-43").sid != room.sid
        assert provider.room_complete(room_sid=room.sid) is None

    def test_tokens_are_real_signed_jwts(self, settings):
        settings.TWILIO_TOKEN_TTL_SECONDS = 600
        account_sid, key_sid, secret = sandbox_credentials()
        assert account_sid.startswith("AC") and len(account_sid) == 34
        assert key_sid.startswith("SK") and len(key_sid) == 34
        grant = SandboxVideoProvider().access_token(identity="user-1", room_name="booking-42")
        claims = decode(grant.token, secret)
        assert claims["grants"] == {"identity": "user-1", "video": {"room": "booking-42"}}
        assert (claims["iss"], claims["sub"]) == (key_sid, account_sid)
        assert claims["exp"] - claims["nbf"] == 600
        assert grant.expires_at == datetime.fromtimestamp(claims["exp"], tz=UTC)

    def test_credentials_follow_the_secret_key(self, settings):
        first = sandbox_credentials()
        settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
        assert sandbox_credentials() != first

"""The offline video provider: Twilio's formats, no network, no state.

Room sids are `RM` + 32 hex derived from the room's unique name, so creating a room twice gives the same
room, in every process. Tokens are real access-token JWTs built by the SDK's `AccessToken`, signed with
sandbox credentials derived from SECRET_KEY (so they verify, but Twilio would refuse them).
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings

from live.video import AccessGrant, Room, VideoProvider, signed_access_token


def _hex(label: str, size: int = 32) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), label.encode(), hashlib.sha256).hexdigest()[:size]


def sandbox_credentials() -> tuple[str, str, str]:
    """(account sid, API key sid, API key secret) of the sandbox."""
    return f"AC{_hex('twilio-sandbox-account')}", f"SK{_hex('twilio-sandbox-key')}", _hex("twilio-sandbox-secret", 64)


class SandboxVideoProvider(VideoProvider):
    name = "twilio-sandbox"

    def room_create(self, *, unique_name: str) -> Room:
        return Room(sid=f"RM{_hex('room:' + unique_name)}", name=unique_name, status="in-progress")

    def room_complete(self, *, room_sid: str) -> None:
        return None

    def access_token(self, *, identity: str, room_name: str) -> AccessGrant:
        account_sid, key_sid, secret = sandbox_credentials()
        return signed_access_token(
            account_sid=account_sid,
            key_sid=key_sid,
            secret=secret,
            identity=identity,
            room_name=room_name,
            ttl=settings.TWILIO_TOKEN_TTL_SECONDS,
        )

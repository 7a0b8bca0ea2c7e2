"""The offline video provider: Twilio's formats, no network.

Room sids are `RM` + 32 hex derived from the room's unique name, so creating a room twice gives the same
room, in every process. Tokens are real access-token JWTs built by the SDK's `AccessToken`, signed with
sandbox credentials derived from SECRET_KEY (so they verify, but Twilio would refuse them).

What Twilio would enforce in a room (whose tracks each subscriber receives, who was disconnected) is
kept per room in the shared cache, so every process and the tests can see it (`room_state`).
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.core.cache import cache

from live.video import AccessGrant, Room, VideoProvider, signed_access_token, subscribe_rules


def _hex(label: str, size: int = 32) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), label.encode(), hashlib.sha256).hexdigest()[:size]


STATE_TTL = 24 * 3600


def _state_key(room_sid: str) -> str:
    return f"sandbox-video:{room_sid}"


def room_state(room_sid: str) -> dict:
    """What the sandbox room enforces: `{"subscribeRules": {identity: [rule, ...]}, "disconnected": [identity]}`."""
    state = cache.get(_state_key(room_sid)) or {}
    return {"subscribeRules": {}, "disconnected": [], **state}


def _state_update(room_sid: str, change) -> None:
    state = room_state(room_sid)
    change(state)
    cache.set(_state_key(room_sid), state, STATE_TTL)


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

    def subscriptions_set(self, *, room_sid: str, subscriber: str, publisher: str, excluded_kinds: list[str]) -> None:
        rules = subscribe_rules(publisher=publisher, excluded_kinds=excluded_kinds)
        _state_update(room_sid, lambda state: state["subscribeRules"].__setitem__(subscriber, rules))

    def participant_disconnect(self, *, room_sid: str, identity: str) -> None:
        def change(state: dict) -> None:
            if identity not in state["disconnected"]:
                state["disconnected"].append(identity)

        _state_update(room_sid, change)

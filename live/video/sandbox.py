"""The offline video provider: Twilio's formats, no network.

Room sids are `RM` + 32 hex derived from the room's unique name, so creating a room twice gives the same
room, in every process. Tokens are real access-token JWTs built by the SDK's `AccessToken`, signed with
sandbox credentials derived from SECRET_KEY (so they verify, but Twilio would refuse them).

What Twilio would enforce in a room (whose tracks each subscriber receives, who was disconnected) is
kept per room in the shared cache, so every process and the tests can see it (`room_state`).

A composition is a real, short, playable file made on this machine (a WAV tone: every browser plays
it), reported through the composition callback handler signed as Twilio signs it, so the whole
recording flow, the page's player included, works offline.
"""

from __future__ import annotations

import array
import hashlib
import hmac
import math
import secrets
import wave
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from live.video import (
    AccessGrant,
    Media,
    Room,
    VideoProvider,
    composition_callback_url,
    signed_access_token,
    subscribe_rules,
)


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

    def recording_set(self, *, room_sid: str, on: bool) -> None:
        _state_update(room_sid, lambda state: state.__setitem__("recording", on))

    def composition_create(self, *, room_sid: str) -> str:
        sid = "CJ" + secrets.token_hex(16)
        # Twilio composes after the request returns; here, after the caller's transaction commits.
        transaction.on_commit(lambda: _compose(room_sid, sid))
        return sid

    def composition_media(self, *, composition_sid: str) -> Media:
        return Media(path=str(_media_path(composition_sid)), content_type="audio/wav")


SAMPLE_RATE = 8000
TONE_SECONDS = 3


def _media_path(composition_sid: str) -> Path:
    return Path(settings.RECORDINGS_DIR) / f"{composition_sid}.wav"


def tone_wav(path: Path, *, seconds: int = TONE_SECONDS, hertz: float = 440.0) -> None:
    """A mono 16-bit PCM WAV of a sine tone, faded in and out."""
    frames = SAMPLE_RATE * seconds
    fade = SAMPLE_RATE // 10
    samples = array.array(
        "h",
        (
            int(12000 * min(1.0, i / fade, (frames - i) / fade) * math.sin(2 * math.pi * hertz * i / SAMPLE_RATE))
            for i in range(frames)
        ),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(samples.tobytes())


def _compose(room_sid: str, composition_sid: str) -> None:
    """Make the file, then report it through the callback handler, signed with the sandbox's auth token."""
    from twilio.request_validator import RequestValidator

    from live.webhooks import composition_callback_receive

    params = {
        "AccountSid": sandbox_credentials()[0],
        "RoomSid": room_sid,
        "CompositionSid": composition_sid,
        "StatusCallbackEvent": "composition-available",
        "Duration": str(TONE_SECONDS),
        "MediaUri": f"/v1/Compositions/{composition_sid}/Media",
    }
    try:
        tone_wav(_media_path(composition_sid))
    except OSError:
        params["StatusCallbackEvent"] = "composition-failed"
    signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(composition_callback_url(), params)
    composition_callback_receive(params=params, signature=signature, urls=[composition_callback_url()])

"""The video provider behind the classroom: an interface and the implementation chosen by settings.

`TwilioVideoProvider` (live.video.twilio) talks to Twilio Video through the official SDK;
`SandboxVideoProvider` (live.video.sandbox) needs no network and keeps Twilio's formats (RM… room
sids, signed access-token JWTs), so the product runs offline. Services only see this interface and
`ProviderError` (502): a provider never leaves half of a change written on our side.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings

# Where Twilio posts room status callbacks (docs/api.md "Webhooks"); the signature covers this exact URL.
CALLBACK_PATH = "/api/webhooks/twilio/video"
COMPOSITION_CALLBACK_PATH = "/api/webhooks/twilio/composition"


def status_callback_url() -> str:
    return settings.SITE_URL + CALLBACK_PATH


def composition_callback_url() -> str:
    return settings.SITE_URL + COMPOSITION_CALLBACK_PATH


@dataclass(frozen=True)
class Room:
    sid: str
    name: str
    status: str


@dataclass(frozen=True)
class AccessGrant:
    """A provider access token for one identity in one room."""

    token: str
    identity: str
    room_name: str
    expires_at: datetime


@dataclass(frozen=True)
class Media:
    path: str = ""  # a file on this machine
    url: str = ""  # or the provider's short-lived link to it
    content_type: str = ""


# Recording rules: everything, or nothing.
RECORD_ALL = [{"type": "include", "all": True}]
RECORD_NOTHING = [{"type": "exclude", "all": True}]


class VideoProvider(ABC):
    name = "video"

    @abstractmethod
    def room_create(self, *, unique_name: str) -> Room:
        """The in-progress room called `unique_name`, created if there is none (so a retry is harmless)."""

    @abstractmethod
    def room_complete(self, *, room_sid: str) -> None:
        """End the room, disconnecting everyone. A room that has already ended counts as done."""

    @abstractmethod
    def access_token(self, *, identity: str, room_name: str) -> AccessGrant:
        """A short-lived token that lets `identity` (a user id) into `room_name` only."""

    @abstractmethod
    def subscriptions_set(self, *, room_sid: str, subscriber: str, publisher: str, excluded_kinds: list[str]) -> None:
        """`subscriber` receives every track in the room except `publisher`'s tracks of `excluded_kinds`
        (audio, video). A subscriber not in the room has nothing to change (its next connection is
        handled when the provider reports it)."""

    @abstractmethod
    def participant_disconnect(self, *, room_sid: str, identity: str) -> None:
        """Disconnect `identity` from the room; someone not connected counts as done."""

    @abstractmethod
    def recording_set(self, *, room_sid: str, on: bool) -> None:
        """Record every track of the room from now on, or nothing from now on."""

    @abstractmethod
    def composition_create(self, *, room_sid: str) -> str:
        """Ask for one media file of everything recorded in the room (both parties); its id. The
        provider reports the outcome to the composition callback."""

    @abstractmethod
    def composition_media(self, *, composition_sid: str) -> Media:
        """Where the composed file is: a local file (sandbox) or a short-lived URL fetched from the provider."""


def get_video_provider() -> VideoProvider:
    if settings.TWILIO_SANDBOX:
        from live.video.sandbox import SandboxVideoProvider

        return SandboxVideoProvider()
    from live.video.twilio import TwilioVideoProvider

    return TwilioVideoProvider()


def signed_access_token(
    *, account_sid: str, key_sid: str, secret: str, identity: str, room_name: str, ttl: int
) -> AccessGrant:
    """Twilio's access-token JWT (HS256, iss = API key, sub = account) with one video grant for one room."""
    from twilio.jwt.access_token import AccessToken
    from twilio.jwt.access_token.grants import VideoGrant

    expires = int(time.time()) + ttl
    token = AccessToken(account_sid, key_sid, secret, identity=identity, ttl=ttl, valid_until=expires)
    token.add_grant(VideoGrant(room=room_name))
    return AccessGrant(
        token=token.to_jwt(),
        identity=identity,
        room_name=room_name,
        expires_at=datetime.fromtimestamp(expires, tz=UTC),
    )


def subscribe_rules(*, publisher: str, excluded_kinds: list[str]) -> list[dict]:
    """Twilio track subscription rules: everything, except `publisher`'s tracks of the excluded kinds."""
    rules: list[dict] = [{"type": "include", "all": True}]
    rules += [{"type": "exclude", "publisher": publisher, "kind": kind} for kind in excluded_kinds]
    return rules

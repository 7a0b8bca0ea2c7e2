"""Twilio Video through the official SDK (`twilio.rest.Client` with an API key).

Rooms are `group` rooms for two, named by us (so creating one twice finds the first) and reporting to
our status callback. Every SDK or network failure becomes `ProviderError` (502) with a safe message;
the cause goes to the log. `TWILIO_VIDEO_BASE_URL` points the SDK's Video domain elsewhere (a local
stub in tests).
"""

from __future__ import annotations

import json
import logging

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from live.video import (
    RECORD_ALL,
    RECORD_NOTHING,
    AccessGrant,
    Media,
    Room,
    VideoProvider,
    composition_callback_url,
    signed_access_token,
    status_callback_url,
    subscribe_rules,
)
from tutoring.errors import ProviderError

logger = logging.getLogger(__name__)

# Twilio error 53113: "Room exists" — an in-progress room already has this unique name.
ROOM_EXISTS = 53113
# Minutes a room waits for its first participant / after its last one left. Twilio's default is 5, so a
# class opened a little early would lose its room before the other party arrived; 60 is the maximum.
ROOM_TIMEOUT_MINUTES = 60

# How long Twilio's own link to a composed file lives (it is handed to the browser at once).
MEDIA_LINK_TTL_SECONDS = 600

FAILURES = (TwilioException, requests.RequestException, KeyError, ValueError)


class TwilioVideoProvider(VideoProvider):
    name = "twilio"

    def __init__(self) -> None:
        self.client = Client(
            settings.TWILIO_API_KEY_SID,
            settings.TWILIO_API_KEY_SECRET,
            settings.TWILIO_ACCOUNT_SID,
            http_client=TwilioHttpClient(timeout=settings.TWILIO_TIMEOUT_SECONDS),
        )
        if settings.TWILIO_VIDEO_BASE_URL:
            # The SDK builds every Video URL from its domain's base_url (twilio.base.domain.Domain).
            self.client.video.base_url = settings.TWILIO_VIDEO_BASE_URL.rstrip("/")
        self.rooms = self.client.video.v1.rooms

    def _fail(self, action: str, exc: Exception) -> ProviderError:
        logger.warning("twilio %s failed: %s", action, exc)
        return ProviderError(provider=self.name)

    def room_create(self, *, unique_name: str) -> Room:
        try:
            try:
                room = self.rooms.create(
                    unique_name=unique_name,
                    type="group",
                    max_participants=2,
                    status_callback=status_callback_url(),
                    status_callback_method="POST",
                    unused_room_timeout=ROOM_TIMEOUT_MINUTES,
                    empty_room_timeout=ROOM_TIMEOUT_MINUTES,
                )
            except TwilioRestException as exc:
                if exc.code != ROOM_EXISTS:
                    raise
                # A retry, or the other party creating at the same moment: the room is already there.
                room = self.rooms(unique_name).fetch()
            if not room.sid:
                raise ValueError("Twilio returned a room without a sid")
        except FAILURES as exc:
            raise self._fail("room create", exc) from exc
        return Room(sid=room.sid, name=room.unique_name or unique_name, status=room.status or "")

    def room_complete(self, *, room_sid: str) -> None:
        try:
            try:
                self.rooms(room_sid).update(status="completed")
            except TwilioRestException:
                # Ending an ended room is refused by Twilio; what matters is that it is over.
                if self.rooms(room_sid).fetch().status != "completed":
                    raise
        except FAILURES as exc:
            raise self._fail("room complete", exc) from exc

    def access_token(self, *, identity: str, room_name: str) -> AccessGrant:
        return signed_access_token(
            account_sid=settings.TWILIO_ACCOUNT_SID,
            key_sid=settings.TWILIO_API_KEY_SID,
            secret=settings.TWILIO_API_KEY_SECRET,
            identity=identity,
            room_name=room_name,
            ttl=settings.TWILIO_TOKEN_TTL_SECONDS,
        )

    def subscriptions_set(self, *, room_sid: str, subscriber: str, publisher: str, excluded_kinds: list[str]) -> None:
        try:
            try:
                self.rooms(room_sid).participants(subscriber).subscribe_rules.update(
                    rules=subscribe_rules(publisher=publisher, excluded_kinds=excluded_kinds)
                )
            except TwilioRestException as exc:
                if exc.status != 404:
                    raise
                # Not connected: its next connection gets the rules when Twilio reports it.
        except FAILURES as exc:
            raise self._fail("subscribe rules update", exc) from exc

    def participant_disconnect(self, *, room_sid: str, identity: str) -> None:
        try:
            try:
                self.rooms(room_sid).participants(identity).update(status="disconnected")
            except TwilioRestException as exc:
                if exc.status != 404:
                    raise
        except FAILURES as exc:
            raise self._fail("participant disconnect", exc) from exc

    def recording_set(self, *, room_sid: str, on: bool) -> None:
        try:
            self.rooms(room_sid).recording_rules.update(rules=RECORD_ALL if on else RECORD_NOTHING)
        except FAILURES as exc:
            raise self._fail("recording rules update", exc) from exc

    def composition_create(self, *, room_sid: str) -> str:
        try:
            composition = self.client.video.v1.compositions.create(
                room_sid=room_sid,
                audio_sources=["*"],
                video_layout={"grid": {"video_sources": ["*"]}},
                format="mp4",
                status_callback=composition_callback_url(),
                status_callback_method="POST",
            )
            if not composition.sid:
                raise ValueError("Twilio returned a composition without a sid")
        except FAILURES as exc:
            raise self._fail("composition create", exc) from exc
        return composition.sid

    def composition_media(self, *, composition_sid: str) -> Media:
        """Twilio answers `GET /v1/Compositions/{sid}/Media` with a short-lived link to the file
        (`redirect_to`); fetched here with our credentials, never handed out before it is asked for."""
        uri = f"{self.client.video.base_url}/v1/Compositions/{composition_sid}/Media"
        try:
            response = self.client.request("GET", uri, params={"Ttl": MEDIA_LINK_TTL_SECONDS})
            if response.status_code >= 400:
                raise ValueError(f"Twilio answered {response.status_code} for the media of {composition_sid}")
            url = json.loads(response.text)["redirect_to"]
        except FAILURES as exc:
            raise self._fail("composition media", exc) from exc
        return Media(url=url)

"""The classroom page (docs/pages.md "Classroom"): video tiles, chat, participants, media toggles,
hand raising, and start/end for the tutor.

The page itself only checks who may enter (the parties, as the API's selector does) and hands its
script what it needs; everything live goes through socket.io and the JSON API with a short-lived
access token that the script obtains from `access-token` (session + CSRF), never from a URL.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.translation import gettext as _

from live import selectors
from tutoring.web import TWILIO_VIDEO, csp_allow, found, page, realtime_sources


def _strings() -> dict[str, str]:
    """The script's words, translated here so the page needs no second catalogue."""
    return {
        "you": _("you"),
        "tutor": _("Tutor"),
        "student": _("Student"),
        "connected": _("Connected"),
        "away": _("Not here"),
        "micOn": _("Mic on"),
        "micOff": _("Mic off"),
        "camOn": _("Camera on"),
        "camOff": _("Camera off"),
        "sharing": _("Sharing screen"),
        "handRaised": _("Hand raised"),
        "raiseHand": _("Raise hand"),
        "lowerHand": _("Lower hand"),
        "muteMic": _("Mute mic"),
        "unmuteMic": _("Unmute mic"),
        "stopCamera": _("Stop camera"),
        "startCamera": _("Start camera"),
        "shareScreen": _("Share screen"),
        "stopSharing": _("Stop sharing"),
        "statusCreated": _("Waiting for the tutor to start"),
        "statusActive": _("In class"),
        "statusCompleted": _("Class ended"),
        "online": _("Live"),
        "reconnecting": _("Reconnecting…"),
        "cameraPlaceholder": _("Your camera is off"),
        "cameraUnavailable": _("No camera available: check the browser's permission."),
        "screenUnavailable": _("Screen sharing is not available here."),
        "remotePlaceholder": _("%(name)s's video appears here once they connect."),
        "remoteSandbox": _("%(name)s: video is not sent in the sandbox."),
        "sandboxVideo": _("Sandbox video: only your own camera is shown; no video is sent."),
        "noMessages": _("No messages yet. Say hello!"),
        "sendFailed": _("Not sent: %(message)s"),
        "actionFailed": _("That did not work: %(message)s"),
        "endConfirm": _("End the class for everyone?"),
        "mute": _("Mute"),
        "unmute": _("Unmute"),
        "remove": _("Remove"),
        "admit": _("Admit"),
        "mutedChip": _("Muted by the tutor"),
        "removedChip": _("Removed"),
        "youWereMuted": _("The tutor muted you."),
        "youWereRemoved": _("The tutor removed you from the class. Ask them to admit you, then rejoin."),
        "removeConfirm": _("Remove %(name)s from the class?"),
        "record": _("Record"),
        "stopRecording": _("Stop recording"),
        "recordingOn": _("Recording"),
        "recordingReady": _("The recording is ready on the booking's page."),
    }


@page()
def classroom(request: HttpRequest, session_id) -> HttpResponse:
    session = found(selectors.session_get_for_user, session_id=session_id, user=request.user)
    role = selectors.party_role(session=session, user=request.user)
    data = {
        "sessionId": str(session.pk),
        "userId": str(request.user.pk),
        "role": role,
        "status": session.status,
        "tokenUrl": reverse("access-token"),
        "apiBase": f"/api/live/sessions/{session.pk}",
        "sandboxVideo": settings.TWILIO_SANDBOX,
        "recordingStatus": selectors.recording_get(session=session).status,
        "strings": _strings(),
    }
    context = {"session": session, "booking": session.booking, "role": role, "data": data}
    response = render(request, "pages/classroom.html", context)
    return csp_allow(response, realtime_sources(request), *(() if settings.TWILIO_SANDBOX else (TWILIO_VIDEO,)))


urlpatterns = [
    path("classroom/<uuid:session_id>", classroom, name="classroom"),
]

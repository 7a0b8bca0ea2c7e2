"""Moderation over both realtime transports (docs/realtime.md): the tutor mutes, removes and admits the
student with `mute_participant`, `remove_participant`, `admit_participant`; a removed student's socket.io
and WebSocket connections leave the room and cannot rejoin (nor get a video token) until admitted."""

from __future__ import annotations

import aiohttp
import pytest
from asgiref.sync import async_to_sync
from rest_framework_simplejwt.tokens import AccessToken

from live.models import Participant, SessionEvent
from live.tests.realtime.conftest import SioClient, WsClient, settle

pytestmark = pytest.mark.django_db(transaction=True)


async def token_status(base: str, session_id: str, access: str) -> int:
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{base}/api/live/sessions/{session_id}/token", headers={"Authorization": f"Bearer {access}"}
        )
        return response.status


def test_mute_remove_and_admit_across_both_transports(realtime_server, live_session):
    tutor, student = live_session.booking.tutor, live_session.booking.student
    session_id = str(live_session.pk)
    student_access = str(AccessToken.for_user(student))
    out: dict = {}

    async def scenario():
        tutor_sio, tutor_ws = SioClient(realtime_server), WsClient(realtime_server)
        student_sio, student_ws = SioClient(realtime_server), WsClient(realtime_server)
        await tutor_sio.connect(str(AccessToken.for_user(tutor)))
        await tutor_ws.connect(str(AccessToken.for_user(tutor)))
        await student_sio.connect(student_access)
        await student_ws.connect(student_access)
        for client in (tutor_sio, tutor_ws, student_sio, student_ws):
            assert "data" in await client.call("join", {"sessionId": session_id})

        # Mute over the WebSocket: the student's two connections are told, the room sees the state.
        target = {"sessionId": session_id, "participantId": str(student.pk)}
        out["mute"] = await tutor_ws.call("mute_participant", {**target, "audio": True, "video": True})
        out["mutedSio"] = await student_sio.inbox.next("muted")
        out["mutedWs"] = await student_ws.inbox.next("muted")
        while "audioMuted" not in (update := await tutor_sio.inbox.next("participant_updated"))["updates"]:
            pass
        out["mutedUpdate"] = update
        out["studentMutesTutor"] = await student_sio.call(
            "mute_participant", {"sessionId": session_id, "participantId": str(tutor.pk)}
        )
        out["tutorMutesTutor"] = await tutor_sio.call(
            "mute_participant", {"sessionId": session_id, "participantId": str(tutor.pk)}
        )

        # Remove over socket.io: both of the student's connections leave the room.
        out["remove"] = await tutor_sio.call("remove_participant", target)
        out["removedSio"] = await student_sio.inbox.next("removed")
        out["removedWs"] = await student_ws.inbox.next("removed")
        while "removed" not in (update := await tutor_ws.inbox.next("participant_updated"))["updates"]:
            pass
        out["removedUpdate"] = update
        # Published before the removal's update: had the tutor been sent `muted`, it would be here now.
        out["tutorMuted"] = tutor_sio.inbox.pending("muted") + tutor_ws.inbox.pending("muted")
        out["sioMessage"] = await student_sio.call("message", {"sessionId": session_id, "content": "still here?"})
        out["wsMessage"] = await student_ws.call("message", {"sessionId": session_id, "content": "still here?"})
        out["sioRejoin"] = await student_sio.call("join", {"sessionId": session_id})
        out["wsRejoin"] = await student_ws.call("join", {"sessionId": session_id})
        out["removedToken"] = await token_status(realtime_server, session_id, student_access)
        # Nothing of the room reaches them meanwhile.
        await tutor_sio.call("message", {"sessionId": session_id, "content": "while you were out"})

        # Admit over the WebSocket: they may join again, and the room reaches them again.
        out["admit"] = await tutor_ws.call("admit_participant", target)
        out["admittedToken"] = await token_status(realtime_server, session_id, student_access)
        out["sioJoin"] = await student_sio.call("join", {"sessionId": session_id})
        out["wsJoin"] = await student_ws.call("join", {"sessionId": session_id})
        await tutor_sio.call("message", {"sessionId": session_id, "content": "welcome back"})
        out["sioGot"] = await student_sio.inbox.next("message")
        out["wsGot"] = await student_ws.inbox.next("message")
        for client in (tutor_sio, tutor_ws, student_sio, student_ws):
            await client.close()

    async_to_sync(scenario)()
    settle()

    student_row = {"sessionId": session_id}
    assert out["mute"]["data"]["audioMuted"] is True and out["mute"]["data"]["videoMuted"] is True
    assert out["mutedSio"] == out["mutedWs"] == {"sessionId": session_id, "audio": True, "video": True}
    assert out["mutedUpdate"] == {
        "participantId": str(student.pk),
        "updates": {"audioMuted": True, "videoMuted": True},
    }
    assert out["studentMutesTutor"]["statusCode"] == 403
    assert out["tutorMutesTutor"]["statusCode"] == 400
    assert out["remove"]["data"]["removed"] is True
    assert out["removedSio"] == out["removedWs"] == student_row
    assert out["removedUpdate"] == {"participantId": str(student.pk), "updates": {"removed": True}}
    assert out["tutorMuted"] == []
    assert out["sioMessage"]["statusCode"] == 403
    assert out["wsMessage"]["error"]["statusCode"] == 403
    assert out["sioRejoin"]["statusCode"] == 403
    assert out["wsRejoin"]["error"]["statusCode"] == 403
    assert out["removedToken"] == 403
    assert out["admit"]["data"]["removed"] is False
    assert out["admittedToken"] == 200
    assert "data" in out["sioJoin"] and "data" in out["wsJoin"]
    # The first message they get is the one after their return.
    assert out["sioGot"]["content"] == out["wsGot"]["content"] == "welcome back"
    assert not Participant.objects.get(session=live_session, user=student).removed
    kinds = list(SessionEvent.objects.filter(session=live_session).values_list("type", flat=True))
    assert [k for k in kinds if k in ("mute", "remove", "admit")] == ["mute", "remove", "admit"]
    # Their two connections left at the removal and joined again after the admission.
    assert kinds.count("leave") >= 2 and kinds.count("join") >= 6

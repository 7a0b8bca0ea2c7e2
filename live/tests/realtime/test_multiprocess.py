"""Two daphne processes and a gunicorn worker sharing PostgreSQL and Redis: one bus across processes.

Clients of both transports on different processes share rooms; an event raised by an HTTP request in
the gunicorn worker reaches all of them; presence and the chat limit are counted across processes.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
import requests
from asgiref.sync import async_to_sync, sync_to_async
from rest_framework_simplejwt.tokens import AccessToken

from live.models import Message, Participant
from live.tests.factories import SessionFactory
from live.tests.realtime.conftest import SioClient, WsClient
from tutoring.tests.factories import StudentFactory
from tutoring.tests.servers import server
from tutoring.tests.utils import bearer

IDLE_SECONDS = 6

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_daphne_processes_share_rooms_presence_and_the_chat_limit(database_url, settings):
    student = StudentFactory()
    live_session = SessionFactory(booking__student=student)
    tutor = live_session.booking.tutor
    session_id = str(live_session.pk)
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": f"test-rt-xproc-{uuid.uuid4().hex[:8]}",
    }
    with server("daphne", env=env) as a, server("daphne", env=env) as b, server("gunicorn", env=env) as http:

        async def scenario():
            tutor_a = SioClient(a)
            await tutor_a.connect(str(AccessToken.for_user(tutor)))
            student_b = SioClient(b)
            await student_b.connect(str(AccessToken.for_user(student)))
            student_ws_a = WsClient(a)
            await student_ws_a.connect(str(AccessToken.for_user(student)))
            await tutor_a.call("join", {"sessionId": session_id})
            await student_b.call("join", {"sessionId": session_id})
            await student_ws_a.call("join", {"sessionId": session_id})
            # Idle longer than redis-py's default 5 s read timeout: the subscriptions must outlive it.
            await asyncio.sleep(IDLE_SECONDS)

            # A message sent on B reaches socket.io and Channels clients on A.
            sent = (await student_b.call("message", {"sessionId": session_id, "content": "from B"}))["data"]
            at_tutor = await tutor_a.inbox.next("message")
            at_ws = await student_ws_a.inbox.next("message")
            # participant_update on A reaches B.
            await tutor_a.call("participant_update", {"sessionId": session_id, "updates": {"isAudioEnabled": True}})
            while (update_at_b := await student_b.inbox.next("participant_updated"))["participantId"] != str(tutor.pk):
                pass
            # A message on the WebSocket of A reaches socket.io on B.
            from_ws = (await student_ws_a.call("message", {"sessionId": session_id, "content": "from A ws"}))["data"]
            while (at_b := await student_b.inbox.next("message"))["id"] != from_ws["id"]:
                pass

            # An HTTP request served by gunicorn publishes to every process.
            started = await sync_to_async(requests.post)(
                f"{http}/api/live/sessions/{session_id}/start", headers={"Authorization": bearer(tutor)}, timeout=15
            )
            assert started.status_code == 200, started.content
            updates = [await c.inbox.next("session_updated") for c in (tutor_a, student_b, student_ws_a)]

            # The chat limit counts the student's messages on both processes and transports together.
            for i in range(29):
                assert "data" in await student_b.call("message", {"sessionId": session_id, "content": f"b{i}"})
                assert "data" in await student_ws_a.call("message", {"sessionId": session_id, "content": f"a{i}"})
            over_b = await student_b.call("message", {"sessionId": session_id, "content": "61st on B"})
            over_a = await student_ws_a.call("message", {"sessionId": session_id, "content": "61st on A"})

            # Presence: the student's connection on B closes, the one on A stays: still connected.
            await student_b.close()
            marker = (await tutor_a.call("message", {"sessionId": session_id, "content": "marker"}))["data"]
            while (await tutor_a.inbox.next("message"))["id"] != marker["id"]:
                pass
            still = tutor_a.inbox.pending("participant_updated")
            await student_ws_a.close()
            while (gone := await tutor_a.inbox.next("participant_updated"))["participantId"] != str(student.pk):
                pass
            await tutor_a.close()
            return sent, at_tutor, at_ws, update_at_b, from_ws, at_b, updates, over_b, over_a, still, gone

        sent, at_tutor, at_ws, update_at_b, from_ws, at_b, updates, over_b, over_a, still, gone = async_to_sync(
            scenario
        )()

    assert at_tutor == sent and at_ws == sent
    assert update_at_b == {"participantId": str(tutor.pk), "updates": {"isAudioEnabled": True}}
    assert at_b == from_ws
    assert all(u["id"] == session_id and u["status"] == "active" for u in updates)
    assert over_b["statusCode"] == 429
    assert over_a["error"]["statusCode"] == 429
    assert Message.objects.filter(session=live_session, sender=student).count() == 60
    assert not Message.objects.filter(content__startswith="61st").exists()
    assert [u for u in still if u["updates"] == {"isConnected": False}] == []
    assert gone == {"participantId": str(student.pk), "updates": {"isConnected": False}}
    assert Participant.objects.get(session=live_session, user=student).is_connected is False

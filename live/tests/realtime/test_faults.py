"""Realtime processes dying: kill -9 mid-chat (clients move to the survivor, nothing acknowledged is
lost, presence heals) and SIGTERM with many sockets (the process exits within seconds and leaves no
one marked connected). Marked `fault`; daphne processes share PostgreSQL and Redis with the test."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid

import aiohttp
import pytest
from asgiref.sync import async_to_sync
from rest_framework_simplejwt.tokens import AccessToken

from live.models import Connection, Message, Participant
from live.tests.factories import SessionFactory
from live.tests.realtime.conftest import SioClient
from tutoring.tests.servers import server_process

pytestmark = [pytest.mark.fault, pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

HEAL_WITHIN = 60  # seconds: what docs/operations.md promises for a process that died


def realtime_env(database_url, settings, **extra) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": f"test-fault-{uuid.uuid4().hex[:8]}",
        **extra,
    }


def token(user) -> str:
    return str(AccessToken.for_user(user))


async def next_update(client: SioClient, user, connected: bool, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        update = await client.inbox.next("participant_updated", timeout=max(0.1, deadline - time.monotonic()))
        if update == {"participantId": str(user.pk), "updates": {"isConnected": connected}}:
            return update


def test_kill_9_of_one_of_two_realtime_processes_mid_chat(database_url, settings):
    live_session = SessionFactory()
    tutor, student = live_session.booking.tutor, live_session.booking.student
    session_id = str(live_session.pk)
    # A short TTL and heartbeat so the test does not wait the production minute.
    env = realtime_env(database_url, settings, REALTIME_HEARTBEAT_SECONDS="1", REALTIME_PRESENCE_TTL_SECONDS="3")

    with server_process("daphne", env=env) as a, server_process("daphne", env=env) as b:

        async def scenario():
            tutor_b = SioClient(b.base)
            await tutor_b.connect(token(tutor))
            await tutor_b.call("join", {"sessionId": session_id})
            student_a = SioClient(a.base)
            student_a.sio.reconnection = False
            await student_a.connect(token(student))
            await student_a.call("join", {"sessionId": session_id})
            await next_update(tutor_b, student, True, 15)

            acked: list[dict] = []
            for i in range(20):  # mid-chat: both write, A dies in the middle of it
                if i == 10:
                    a.proc.send_signal(signal.SIGKILL)
                    a.proc.wait()
                for client, name in ((student_a, "student"), (tutor_b, "tutor")):
                    try:
                        ack = await asyncio.wait_for(
                            client.call("message", {"sessionId": session_id, "content": f"{name}-{i}"}), 3
                        )
                    except Exception:  # the dead process's client gets no answer: not acknowledged
                        continue
                    if "data" in ack:
                        acked.append(ack["data"])

            # Presence heals: the student's connection on A is swept by B once it is not refreshed.
            started = time.monotonic()
            gone = await next_update(tutor_b, student, False, HEAL_WITHIN)
            healed_after = time.monotonic() - started

            # The client reconnects to the survivor and finds every acknowledged message in the history.
            student_b = SioClient(b.base)
            await student_b.connect(token(student))
            history = (await student_b.call("join", {"sessionId": session_id}))["data"]["messages"]
            back = await next_update(tutor_b, student, True, 15)
            after = (await student_b.call("message", {"sessionId": session_id, "content": "back"}))["data"]
            await student_b.close()
            await tutor_b.close()
            return acked, gone, healed_after, history, back, after

        acked, gone, healed_after, history, back, after = async_to_sync(scenario)()

    assert len(acked) >= 20  # the tutor's 20 at least, and the student's before the kill
    stored = set(Message.objects.filter(session=live_session).values_list("id", flat=True))
    assert {uuid.UUID(m["id"]) for m in acked} <= stored
    assert {m["id"] for m in acked} <= {m["id"] for m in history}
    assert uuid.UUID(after["id"]) in stored
    assert healed_after < HEAL_WITHIN
    assert gone["updates"] == {"isConnected": False} and back["updates"] == {"isConnected": True}


def test_sigterm_with_many_sockets_exits_within_seconds_and_leaves_no_one_connected(database_url, settings):
    sessions = [SessionFactory() for _ in range(60)]
    parties = [(s, user) for s in sessions for user in (s.booking.tutor, s.booking.student)]
    env = realtime_env(database_url, settings, RATE_LIMIT_REALTIME_JOIN="1000/m")

    with server_process("daphne", env=env) as realtime:
        ws_base = realtime.base.replace("http://", "ws://")

        async def scenario():
            http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
            sockets = []

            async def open_and_join(live_session, user):
                ws = await http.ws_connect(f"{ws_base}/ws/live/?token={token(user)}")
                await ws.send_str(
                    json.dumps({"event": "join", "data": {"sessionId": str(live_session.pk)}, "ack": "j"})
                )
                while json.loads((await ws.receive(timeout=30)).data).get("event") != "ack":
                    pass
                sockets.append(ws)

            await asyncio.gather(*(open_and_join(s, u) for s, u in parties))
            connected = await asyncio.to_thread(Participant.objects.filter(is_connected=True).count)
            # Some clients leave just as the deploy stops the process: their disconnects are in flight.
            leaving = [asyncio.ensure_future(ws.close()) for ws in sockets[: len(sockets) // 3]]
            await asyncio.sleep(0.05)
            realtime.proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            while realtime.proc.poll() is None and time.monotonic() - started < 60:
                await asyncio.sleep(0.1)
            exited_after = time.monotonic() - started
            await asyncio.gather(*leaving, return_exceptions=True)
            await http.close()
            return connected, exited_after, realtime.proc.poll()

        connected, exited_after, code = async_to_sync(scenario)()

    assert connected == len(parties)
    assert code is not None, "still running a minute after SIGTERM"
    assert exited_after < 15, exited_after
    assert not Connection.objects.exists()
    assert not Participant.objects.filter(is_connected=True).exists()

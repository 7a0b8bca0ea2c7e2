"""What an attacker or a bad day does to the realtime transports, on both of them: bad drafts, a join
during a Redis blip, a dead process's presence, deactivated users and expired tokens, and the limits
on joins, updates and connections per user."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import threading
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
import socketio
from asgiref.sync import SyncToAsync, async_to_sync, sync_to_async
from django.db import connections
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework_simplejwt.tokens import AccessToken

from live import realtime, services
from live.models import Connection, Message, Participant, Presence
from live.realtime import events, hub, writer
from live.realtime import socketio as live_socketio
from live.realtime.process import SWITCH_INTERVAL_SECONDS, RealtimeProcess, process, run_db
from live.tests.factories import ActiveSessionFactory
from live.tests.realtime.conftest import WAIT, SioClient, WsClient, eventually, settle
from tutoring.tests.asgi_server import open_clients
from tutoring.tests.factories import StudentFactory

pytestmark = pytest.mark.django_db(transaction=True)

TRANSPORTS = ["socketio", "websocket"]


def run(coro_fn, *args):
    result = async_to_sync(coro_fn)(*args)
    settle()
    return result


async def heartbeat(in_server_loop) -> None:
    """One heartbeat of the server's process, from inside a scenario. Through a plain executor thread:
    asgiref's context must not follow, or the server's database calls would wait for this thread."""
    await asyncio.get_running_loop().run_in_executor(None, in_server_loop, process.beat)


class Party:
    """A client of either transport with one way to call and to read answers: `{"data"}` or the error body."""

    def __init__(self, transport: str, base: str):
        self.transport = transport
        self.client = SioClient(base) if transport == "socketio" else WsClient(base)

    @classmethod
    async def open(cls, transport: str, base: str, user, *, token: str | None = None) -> Party:
        party = cls(transport, base)
        await party.client.connect(token or str(AccessToken.for_user(user)))
        return party

    async def call(self, event: str, data) -> dict:
        answer = await self.client.call(event, data)
        if self.transport == "websocket":
            return {"data": answer["data"]} if "data" in answer else answer["error"]
        return answer

    async def next(self, event: str):
        return await self.client.inbox.next(event)

    async def closed_by_server(self) -> bool:
        if self.transport == "websocket":
            await asyncio.wait_for(self.client.closed.wait(), WAIT)
            return self.client.close_code == 4401
        await eventually(lambda: not self.client.sio.connected)
        return True

    async def close(self) -> None:
        await self.client.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_content_postgresql_cannot_store_is_a_400(realtime_server, live_session, transport):
    """A NUL (or a lone surrogate) was a 500 on PostgreSQL and failed the rest of the batch."""
    tutor = live_session.booking.tutor
    session_id = str(live_session.pk)

    async def scenario():
        party = await Party.open(transport, realtime_server, tutor)
        await party.call("join", {"sessionId": session_id})
        nul = await party.call("message", {"sessionId": session_id, "content": "a\u0000b"})
        surrogate = await party.call("message", {"sessionId": session_id, "content": "a\ud800b"})
        fine = await party.call("message", {"sessionId": session_id, "content": "fine"})
        await party.close()
        return nul, surrogate, fine

    nul, surrogate, fine = run(scenario)
    for refused in (nul, surrogate):
        assert refused["statusCode"] == 400 and refused["errors"]["content"], refused
    assert fine["data"]["content"] == "fine"
    assert list(Message.objects.values_list("content", flat=True)) == ["fine"]


@pytest.mark.postgres
def test_a_draft_the_database_refuses_cannot_fail_its_neighbours(in_server_loop, monkeypatch):
    """Second line of defence: were a draft PostgreSQL cannot store to get past the checks, the batch
    insert fails and every draft is retried alone, so only that one fails (it used to take the other
    classrooms' messages of the same batch down with it)."""
    monkeypatch.setattr(services, "_storable", lambda text: True)
    busy, other = ActiveSessionFactory(), ActiveSessionFactory()
    submissions = [(busy.booking.student, str(busy.pk), f"m{i}") for i in range(40)]
    submissions.insert(17, (other.booking.tutor, str(other.pk), "a\u0000b"))

    async def burst():
        chat = writer.writer_for_loop(events._db)
        return await asyncio.gather(*(chat.submit(*s) for s in submissions), return_exceptions=True)

    results = in_server_loop(burst)
    bad = results.pop(17)
    assert getattr(bad, "status_code", None) == 500
    assert [r["content"] for r in results] == [f"m{i}" for i in range(40)]
    assert Message.objects.filter(session=busy).count() == 40
    assert not Message.objects.filter(session=other).exists()


class FlakyLayer:
    """The channel layer during a Redis blip: the first `group_add` fails, everything else works."""

    def __init__(self, layer):
        self.layer, self.failures = layer, 1

    async def group_add(self, group, channel):
        if self.failures:
            self.failures -= 1
            raise RedisConnectionError("Connection reset by peer (a blip)")
        return await self.layer.group_add(group, channel)

    def __getattr__(self, name):
        return getattr(self.layer, name)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_join_that_fails_during_a_redis_blip_leaves_nothing_behind(
    realtime_server, live_session, transport, monkeypatch
):
    """The join failing to subscribe is a 503; the next join subscribes, and every message arrives."""
    tutor, student = live_session.booking.tutor, live_session.booking.student
    session_id = str(live_session.pk)
    flaky = FlakyLayer(hub.get_channel_layer())
    monkeypatch.setattr(hub, "get_channel_layer", lambda: flaky)

    async def scenario():
        listener = await Party.open(transport, realtime_server, student)
        failed = await listener.call("join", {"sessionId": session_id})
        joined = await listener.call("join", {"sessionId": session_id})
        sender = await Party.open("socketio", realtime_server, tutor)
        await sender.call("join", {"sessionId": session_id})
        sent = [(await sender.call("message", {"sessionId": session_id, "content": f"m{i}"}))["data"] for i in range(3)]
        got = [await listener.next("message") for _ in range(3)]
        await listener.close()
        await sender.close()
        return failed, joined, sent, got

    failed, joined, sent, got = run(scenario)
    assert failed["statusCode"] == 503 and failed["retryAfter"] >= 1
    assert "data" in joined
    assert got == sent


def test_a_dead_processes_presence_heals_at_the_next_heartbeat(realtime_server, live_session, in_server_loop):
    """A process killed with -9 leaves its connection rows; they stop being refreshed, and once they
    expire a surviving process's heartbeat drops them and tells the room the user is gone."""
    tutor, student = live_session.booking.tutor, live_session.booking.student
    session_id = str(live_session.pk)
    dead = Connection.objects.create(
        user=student, process_id=uuid.uuid4(), expires_at=timezone.now() + timedelta(seconds=30)
    )
    Presence.objects.create(connection=dead, session=live_session)
    Participant.objects.filter(session=live_session, user=student).update(is_connected=True)

    async def scenario():
        watcher = await Party.open("socketio", realtime_server, tutor)
        await watcher.call("join", {"sessionId": session_id})
        await watcher.next("participant_updated")  # the tutor's own arrival
        await heartbeat(in_server_loop)  # not expired yet: still connected
        still = await sync_to_async(lambda: Participant.objects.get(session=live_session, user=student).is_connected)()
        await sync_to_async(Connection.objects.filter(pk=dead.pk).update)(expires_at=timezone.now())
        await heartbeat(in_server_loop)
        gone = await watcher.next("participant_updated")
        await watcher.close()
        return still, gone

    still, gone = run(scenario)
    assert still is True
    assert gone == {"participantId": str(student.pk), "updates": {"isConnected": False}}
    assert not Connection.objects.filter(pk=dead.pk).exists()
    assert Participant.objects.get(session=live_session, user=student).is_connected is False


def test_the_heartbeat_keeps_live_connections_alive(realtime_server, live_session, in_server_loop, settings):
    settings.REALTIME_PRESENCE_TTL_SECONDS = 1
    student = live_session.booking.student

    async def scenario():
        party = await Party.open("websocket", realtime_server, student)
        await party.call("join", {"sessionId": str(live_session.pk)})
        await asyncio.sleep(1.2)  # past the TTL: only the heartbeat keeps the row
        await heartbeat(in_server_loop)
        alive = await sync_to_async(Connection.objects.filter(user=student, expires_at__gt=timezone.now()).count)()
        await party.close()
        return alive

    assert run(scenario) == 1
    assert Participant.objects.get(session=live_session, user=student).is_connected is False


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_deactivated_user_is_refused_and_loses_the_connection(
    realtime_server, live_session, transport, in_server_loop
):
    student = live_session.booking.student
    session_id = str(live_session.pk)

    async def scenario():
        party = await Party.open(transport, realtime_server, student)
        await party.call("join", {"sessionId": session_id})
        await sync_to_async(type(student).objects.filter(pk=student.pk).update)(is_active=False)
        refused = await party.call("message", {"sessionId": session_id, "content": "still here?"})
        await heartbeat(in_server_loop)
        told = await party.next("error")
        closed = await party.closed_by_server()
        return refused, told, closed

    refused, told, closed = run(scenario)
    assert refused["statusCode"] == 401
    assert told["statusCode"] == 401 and closed is True
    assert not Message.objects.exists()
    assert Participant.objects.get(session=live_session, user=student).is_connected is False


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_connection_ends_when_its_access_token_expires(realtime_server, live_session, transport):
    student = live_session.booking.student
    short = AccessToken.for_user(student)
    short.set_exp(lifetime=timedelta(seconds=2))

    async def scenario():
        party = await Party.open(transport, realtime_server, student, token=str(short))
        joined = await party.call("join", {"sessionId": str(live_session.pk)})
        told = await party.next("error")
        return joined, told, await party.closed_by_server()

    joined, told, closed = run(scenario)
    assert "data" in joined
    assert told == {"statusCode": 401, "message": events.TOKEN_EXPIRED}
    assert closed is True


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_joins_and_updates_are_limited_per_user(realtime_server, live_session, transport, settings):
    settings.RATE_LIMIT_REALTIME_JOIN = "2/m"
    settings.RATE_LIMIT_REALTIME_UPDATE = "3/m"
    student = live_session.booking.student
    session_id = str(live_session.pk)

    async def scenario():
        party = await Party.open(transport, realtime_server, student)
        joins = [await party.call("join", {"sessionId": session_id}) for _ in range(3)]
        updates = [
            await party.call("participant_update", {"sessionId": session_id, "updates": {"handRaised": i % 2 == 0}})
            for i in range(4)
        ]
        await party.close()
        return joins, updates

    joins, updates = run(scenario)
    assert ["data" in j for j in joins] == [True, True, False]
    assert joins[2]["statusCode"] == 429 and joins[2]["retryAfter"] >= 1
    assert ["data" in u for u in updates] == [True, True, True, False]
    assert updates[3]["statusCode"] == 429
    assert Participant.objects.get(session=live_session, user=student).hand_raised is True  # the 4th changed nothing


def test_open_connections_are_limited_per_user_across_transports(realtime_server, settings):
    settings.REALTIME_MAX_CONNECTIONS_PER_USER = 2
    student = StudentFactory()

    async def scenario():
        first = await Party.open("socketio", realtime_server, student)
        second = await Party.open("websocket", realtime_server, student)
        third_sio = SioClient(realtime_server)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await third_sio.connect(str(AccessToken.for_user(student)))
        third_ws = WsClient(realtime_server)
        await third_ws.connect(str(AccessToken.for_user(student)))
        await asyncio.wait_for(third_ws.closed.wait(), WAIT)
        await first.close()
        await eventually(lambda: sum(client.user.pk == student.pk for client in list(open_clients)) == 1)
        again = await Party.open("socketio", realtime_server, student)  # a slot is free again
        await again.close()
        await second.close()
        await third_ws.close()
        return third_sio.connect_error, third_ws.close_code

    refused, code = run(scenario)
    assert refused["data"]["statusCode"] == 429
    assert code == 4429


def test_a_thread_never_waits_for_a_stopped_event_loop():
    """SIGTERM under load: daphne's loop stops while database threads still publish presence changes
    (on commit). asgiref's async_to_sync would wait for that loop forever and the process never exit."""
    loop = asyncio.new_event_loop()
    ran = threading.Thread(target=loop.run_until_complete, args=(asyncio.sleep(0),))
    ran.start()
    ran.join()  # the loop has run and stopped, not closed: as at the end of daphne's reactor

    finished = threading.Event()

    def database_thread():
        SyncToAsync.threadlocal.main_event_loop = loop
        SyncToAsync.threadlocal.main_event_loop_pid = os.getpid()
        realtime._publish([("live.session.x", {"type": "live.event", "event": "e", "data": {}})])
        finished.set()

    thread = threading.Thread(target=database_thread, daemon=True)
    thread.start()
    thread.join(realtime.PUBLISH_TIMEOUT + 5)
    loop.close()
    assert finished.is_set()


def test_connecting_records_the_connection_and_closing_removes_it(realtime_server, live_session):
    student = live_session.booking.student

    async def scenario():
        party = await Party.open("websocket", realtime_server, student)
        await party.call("join", {"sessionId": str(live_session.pk)})
        rows = await sync_to_async(lambda: list(Presence.objects.values_list("session_id", "connection__user_id")))()
        await party.close()
        return rows

    assert run(scenario) == [(live_session.pk, student.pk)]
    assert not Connection.objects.exists() and not Presence.objects.exists()


def test_the_first_connection_freezes_the_startup_heap_and_shortens_the_gil_switch_interval():
    """A full collection walked every object the process built to start (200-300 ms with the loop
    stopped, the tail of a chat run): from the first connection on, those are frozen and skipped. And
    a database thread waited up to 5 ms for a busy loop to hand the GIL back after each socket call."""
    gc.unfreeze()
    sys.setswitchinterval(0.005)
    fresh = RealtimeProcess()

    async def connect_one():
        fresh.add(SimpleNamespace(connection_id=uuid.uuid4()))
        fresh._heartbeat.cancel()

    try:
        asyncio.run(connect_one())
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # Django, the apps, the URL patterns: far more than one connection's objects
        # and the event loop hands the GIL to the database threads sooner than Python's default 5 ms
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_SECONDS)
        asyncio.run(connect_one())
        assert gc.get_freeze_count() <= frozen  # once per process, not again per connection
    finally:
        gc.unfreeze()


def test_an_open_socket_io_connection_keeps_no_request_of_its_own_alive(realtime_server, student):
    """python-socketio keeps each connection's first environ while it is open; with its ASGI callables
    and body reader that kept the finished polling request (daphne's request, its queue) alive too."""

    async def scenario():
        client = SioClient(realtime_server + f"?token={AccessToken.for_user(student)}")
        await client.connect(None)  # polling first, then the upgrade; the token from the query string
        environ = live_socketio.sio.get_environ(client.sio.get_sid("/live"), "/live")
        await client.close()
        return environ

    environ = run(scenario)
    assert environ["QUERY_STRING"].startswith("token=") and environ["REQUEST_METHOD"] == "GET"
    assert {key: type(value) for key, value in environ.items() if not isinstance(value, str)} == {}


def test_a_websocket_request_gets_no_body_reader():
    """A WebSocket's environ lives as long as the socket; engineio's body reader is a class built per request."""
    translate = live_socketio.sio.eio._async["translate_request"]

    async def environs():
        async def receive_connect():
            return {"type": "websocket.connect"}

        async def receive_request():
            return {"type": "http.request", "body": b"", "more_body": False}

        scope = {"path": "/socket.io/", "query_string": b"EIO=4&transport=websocket", "headers": []}
        websocket = await translate({**scope, "type": "websocket"}, receive_connect, None)
        polling = await translate({**scope, "type": "http", "method": "POST"}, receive_request, None)
        return websocket, polling

    websocket, polling = asyncio.run(environs())
    assert "wsgi.input" not in websocket and websocket["QUERY_STRING"] == "EIO=4&transport=websocket"
    assert "wsgi.input" in polling  # a polling POST still reads its body


def test_database_calls_from_socket_tasks_build_no_database_wrapper_per_task(monkeypatch):
    """Under ASGI `connection` is local to each task: reading it in every socket's task built a
    DatabaseWrapper per socket that lived as long as the socket."""
    built = []
    create = connections.create_connection
    monkeypatch.setattr(connections, "create_connection", lambda alias: built.append(alias) or create(alias))

    async def sockets():
        async def one_socket():
            run_db(lambda: None)  # what each socket's handlers do when they are set up

        await asyncio.gather(*(asyncio.create_task(one_socket()) for _ in range(20)))

    # A loop in a thread of its own, as daphne's: its tasks share no connection with this thread.
    thread = threading.Thread(target=asyncio.run, args=(sockets(),))
    thread.start()
    thread.join()
    assert len(built) <= 1


def test_a_socket_waits_for_frames_to_send_without_a_task_of_its_own(realtime_server, student):
    """engine.io's writer waited with `asyncio.wait_for`, which on Python 3.11 adds a task per wait:
    one more task on the event loop for every frame sent."""

    async def connected_socket_class():
        client = SioClient(realtime_server + f"?token={AccessToken.for_user(student)}")
        await client.connect(None)
        eio_sid = live_socketio.sio.manager.eio_sid_from_sid(client.sio.get_sid("/live"), "/live")
        socket_class = type(live_socketio.sio.eio.sockets[eio_sid])
        await client.close()
        return socket_class

    assert run(connected_socket_class) is live_socketio._EioSocket

    async def poll():
        server = SimpleNamespace(create_queue=asyncio.Queue, ping_interval=0.05, ping_timeout=0.05)
        socket = live_socketio._EioSocket(server, "sid")
        waiting = asyncio.create_task(socket.poll())
        for _ in range(3):
            await asyncio.sleep(0)
        tasks = len(asyncio.all_tasks())  # this one and the poll: no task of the wait's own
        socket.queue.put_nowait("first")
        socket.queue.put_nowait("second")
        socket.queue.put_nowait(None)  # the socket closes: kept for the writer's next poll
        first = await waiting
        closing = await socket.poll()
        try:
            await socket.poll()  # nothing to send: the socket is gone once ping interval + timeout pass
        except live_socketio.eio_exceptions.QueueEmpty:
            timed_out = True
        else:
            timed_out = False
        return tasks, first, closing, timed_out

    assert asyncio.run(poll()) == (2, ["first", "second"], [], True)


def test_over_a_websocket_a_poll_arms_no_timer_and_the_writer_ends_with_its_reader(
    realtime_server, student, in_server_loop
):
    """Over a WebSocket the writer's wait had a timer of its own per frame sent (armed, then cancelled);
    engine.io's reader of the socket already gives up on a silent client and then ends the writer."""

    async def poll():
        server = SimpleNamespace(create_queue=asyncio.Queue, ping_interval=0.05, ping_timeout=0.05)
        socket = live_socketio._EioSocket(server, "sid")
        socket.upgraded = True
        loop = asyncio.get_running_loop()
        timers, call_at = [], loop.call_at
        loop.call_at = lambda *args, **kwargs: (timers.append(args), call_at(*args, **kwargs))[1]
        try:
            waiting = asyncio.create_task(socket.poll())
            for _ in range(3):
                await asyncio.sleep(0)  # the poll is waiting now
        finally:
            del loop.call_at
        await asyncio.sleep(0.2)  # past ping interval + timeout: still waiting
        still_waiting = not waiting.done()
        socket.queue.put_nowait("frame")
        return still_waiting, await waiting, len(timers)

    assert asyncio.run(poll()) == (True, ["frame"], 0)

    async def writers() -> int:  # on the server's loop: its sockets' writer tasks
        return sum("_websocket_handler.<locals>.writer" in repr(t.get_coro()) for t in asyncio.all_tasks())

    async def none_left() -> bool:
        return await sync_to_async(in_server_loop)(writers) == 0

    async def connect_and_leave():
        client = SioClient(realtime_server)
        await client.connect(str(AccessToken.for_user(student)), transports=["websocket"])
        during = await sync_to_async(in_server_loop)(writers)
        await client.close()
        await eventually(none_left)
        return during

    assert run(connect_and_leave) == 1


def test_an_event_to_a_room_is_queued_for_each_socket_without_a_task_per_socket():
    """python-socketio's emit made a task per socket of the room and waited for them all."""
    server = live_socketio.create_server()
    sent = []

    async def send(eio_sid, frame):
        sent.append((eio_sid, frame.encode(), asyncio.current_task()))
        if eio_sid == "eio-1":
            raise ConnectionError("this socket is broken")

    server._send_eio_packet = send

    async def emit():
        for eio_sid in ("eio-1", "eio-2", "eio-3"):
            sid = await server.manager.connect(eio_sid, "/live")
            if eio_sid != "eio-3":
                await server.manager.enter_room(sid, "/live", "room")
        await server.emit("message", {"content": "hi"}, room="room", namespace="/live")
        return asyncio.current_task()

    emitting = asyncio.run(emit())
    frame = '42/live,["message",{"content":"hi"}]'
    # Both sockets of the room, in the emitting task itself; the broken one kept it from nobody.
    assert sent == [("eio-1", frame, emitting), ("eio-2", frame, emitting)]


def test_autobahn_colours_its_debug_values_only_for_lines_it_writes(monkeypatch):
    """daphne's WebSocket layer styled the values of a debug line (click) for every frame, written or
    not; `tutoring.asgi` leaves that until a line is formatted, which then reads as before."""
    import click
    from autobahn import util
    from autobahn.twisted import websocket as twisted_websocket
    from autobahn.websocket import protocol

    import tutoring.asgi  # noqa: F401  (what daphne loads)

    styled = []
    style = click.style
    monkeypatch.setattr(click, "style", lambda *args, **kwargs: (styled.append(args), style(*args, **kwargs))[1])
    method = protocol.WebSocketProtocol.sendData
    values = [protocol.hltype(method), protocol.hlval(42)]
    values += [twisted_websocket.hltype(method), twisted_websocket.hlval("p")]
    assert styled == []  # nothing styled for a line that is not written
    assert [f"{v}" for v in values] == [util.hltype(method), util.hlval(42), util.hltype(method), util.hlval("p")]
    assert styled


def test_daphne_s_sockets_send_a_write_at_once_and_buffer_only_what_the_kernel_did_not_take():
    """Twisted's TCP transport (under daphne) used to send only at the event loop's next turn; now a
    write with nothing waiting goes out at once, and what is buffered still goes out in order."""
    import socket

    from twisted.internet import tcp

    import tutoring.asgi  # noqa: F401  (what daphne loads)

    class Reactor:
        def __init__(self):
            self.writers = set()

        def addWriter(self, fd):
            self.writers.add(fd)

        def removeWriter(self, fd):
            self.writers.discard(fd)

    ours, peer = socket.socketpair()
    ours.setblocking(False)
    peer.setblocking(False)
    reactor = Reactor()
    conn = tcp.Connection(ours, None, reactor)
    conn.connected = True

    conn.write(b"hello")
    assert peer.recv(100) == b"hello" and not reactor.writers  # sent, nothing left to watch for

    big = bytes(range(256)) * 40_000  # more than the socket buffers take
    conn.write(big)
    conn.write(b"after")
    assert reactor.writers == {conn}  # the rest waits for the socket to be writable
    received = bytearray()
    while len(received) < len(big) + 5:
        try:
            received += peer.recv(1 << 20)
        except BlockingIOError:
            conn.doWrite()
    assert bytes(received) == big + b"after" and not reactor.writers
    ours.close()
    peer.close()

"""One room across both transports: a socket.io client and a plain WebSocket client of the Channels
consumer, against the same real server."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from rest_framework_simplejwt.tokens import AccessToken

from live.tests.realtime.conftest import SioClient, WsClient, settle

pytestmark = pytest.mark.django_db(transaction=True)


def test_messages_and_updates_cross_between_socketio_and_the_websocket(realtime_server, live_session):
    tutor, student = live_session.booking.tutor, live_session.booking.student
    session_id = str(live_session.pk)

    async def scenario():
        sio = SioClient(realtime_server)
        await sio.connect(str(AccessToken.for_user(tutor)))
        ws = WsClient(realtime_server)
        await ws.connect(str(AccessToken.for_user(student)))
        assert "data" in await sio.call("join", {"sessionId": session_id})
        assert "data" in (await ws.call("join", {"sessionId": session_id}))
        # The WebSocket's join reached the socket.io client...
        while (await sio.inbox.next("participant_updated"))["participantId"] != str(student.pk):
            pass
        from_ws = (await ws.call("message", {"sessionId": session_id, "content": "from the websocket"}))["data"]
        got_by_sio = await sio.inbox.next("message")
        from_sio = (await sio.call("message", {"sessionId": session_id, "content": "from socket.io"}))["data"]
        # ...and the WebSocket gets both messages, its own included, in order.
        got_by_ws = [await ws.inbox.next("message"), await ws.inbox.next("message")]
        await sio.call("participant_update", {"sessionId": session_id, "updates": {"isScreenSharing": True}})
        while (update := await ws.inbox.next("participant_updated"))["participantId"] != str(tutor.pk):
            pass
        await ws.close()
        while (gone := await sio.inbox.next("participant_updated"))["updates"] != {"isConnected": False}:
            pass
        await sio.close()
        return from_ws, got_by_sio, from_sio, got_by_ws, update, gone

    from_ws, got_by_sio, from_sio, got_by_ws, update, gone = run(scenario)
    assert got_by_sio == from_ws
    assert got_by_ws == [from_ws, from_sio]
    assert update == {"participantId": str(tutor.pk), "updates": {"isScreenSharing": True}}
    assert gone == {"participantId": str(student.pk), "updates": {"isConnected": False}}


def run(coro_fn):
    result = async_to_sync(coro_fn)()
    settle()
    return result

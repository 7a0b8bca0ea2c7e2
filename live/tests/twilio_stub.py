"""A local stand-in for Twilio Video's REST API (video.twilio.com/v1/Rooms and /v1/Compositions), for the
real provider's tests.

It keeps rooms the way Twilio does (unique names are unique among in-progress rooms; "Room exists" is
error 53113), its connected participants (addressed by sid or identity, 404 once disconnected), their
subscribe rules, the rooms' recording rules and compositions; it records every request as sent
(method, path, form body, basic-auth credentials), and can be told to fail the next requests with any
status.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


@dataclass
class Recorded:
    method: str
    path: str
    form: dict[str, list[str]]
    auth: tuple[str, str] | None
    headers: dict[str, str]


@dataclass
class TwilioStub:
    account_sid: str
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    rooms: dict[str, dict] = field(default_factory=dict)
    failures: list[tuple[int, str]] = field(default_factory=list)
    hang_seconds: float = 0.0
    participants: dict[str, dict[str, dict]] = field(default_factory=dict)  # room sid → identity → participant
    compositions: dict[str, dict] = field(default_factory=dict)

    def connect(self, room_sid: str, identity: str) -> str:
        """`identity` connects to the room (as a client with a token would); its participant sid."""
        sid = "PA" + secrets.token_hex(16)
        self.participants.setdefault(room_sid, {})[identity] = {
            "sid": sid,
            "identity": identity,
            "status": "connected",
            "subscribe_rules": [{"type": "include", "all": True}],
        }
        return sid

    def participant(self, room_sid: str, key: str) -> dict | None:
        for participant in self.participants.get(room_sid, {}).values():
            if key in (participant["sid"], participant["identity"]) and participant["status"] == "connected":
                return participant
        return None

    def hang(self, seconds: float) -> None:
        """Answer every request only after `seconds` (longer than the client's timeout: it gives up)."""
        self.hang_seconds = seconds

    def fail_next(self, status: int = 500, body: str = '{"code": 20500, "message": "Internal Server Error"}') -> None:
        """Answer the next request with `status` and `body` (sent as it is), whatever it asks."""
        self.failures.append((status, body))

    def room(self, key: str) -> dict | None:
        """A room by sid, or by unique name among in-progress rooms (as Twilio resolves /Rooms/{key})."""
        if key in self.rooms:
            return self.rooms[key]
        for room in self.rooms.values():
            if room["unique_name"] == key and room["status"] == "in-progress":
                return room
        return None

    def end_room(self, sid: str) -> None:
        """The room ends on its own (timeout), as Twilio's would."""
        self.rooms[sid]["status"] = "completed"

    def handle(self, method: str, path: str, form: dict[str, list[str]]) -> tuple[int, dict | str]:
        if self.failures:
            return self.failures.pop(0)
        one = {k: v[0] for k, v in form.items()}
        parts = path.strip("/").split("/")
        if parts[:2] == ["v1", "Compositions"]:
            return self._composition(method, parts, one)
        if parts[:2] == ["v1", "Rooms"] and len(parts) > 3:
            return self._room_part(method, parts, one)
        if parts[:2] != ["v1", "Rooms"]:
            return 404, _error(20404, "The requested resource was not found", 404)
        if len(parts) == 2 and method == "POST":
            name = one.get("UniqueName", "")
            if name and self.room(name) is not None:
                return 400, _error(53113, "Room exists", 400)
            sid = "RM" + secrets.token_hex(16)
            self.rooms[sid] = self._room_json(sid, one)
            return 201, self.rooms[sid]
        room = self.room(parts[2]) if len(parts) == 3 else None
        if room is None:
            return 404, _error(20404, "The requested resource was not found", 404)
        if method == "GET":
            return 200, room
        if method == "POST":
            if room["status"] == "completed":
                return 400, _error(53118, "Room not in-progress", 400)
            if one.get("Status") == "completed":
                room.update(status="completed", end_time="2026-11-23T14:00:00Z", duration=3600)
            return 200, room
        return 405, _error(20004, "Method not allowed", 405)

    def _room_part(self, method: str, parts: list[str], one: dict[str, str]) -> tuple[int, dict]:
        room = self.room(parts[2])
        if room is None:
            return 404, _error(20404, "The requested resource was not found", 404)
        sid = room["sid"]
        if parts[3] == "RecordingRules" and len(parts) == 4 and method == "POST":
            room["recording_rules"] = json.loads(one["Rules"])
            return 200, {"room_sid": sid, "rules": room["recording_rules"], "date_created": None, "date_updated": None}
        if parts[3] != "Participants" or len(parts) < 5:
            return 404, _error(20404, "The requested resource was not found", 404)
        participant = self.participant(sid, parts[4])
        if participant is None:
            return 404, _error(20404, "The requested resource was not found", 404)
        if len(parts) == 6 and parts[5] == "SubscribeRules" and method == "POST":
            participant["subscribe_rules"] = json.loads(one["Rules"])
            return 200, {
                "participant_sid": participant["sid"],
                "room_sid": sid,
                "rules": participant["subscribe_rules"],
                "date_created": None,
                "date_updated": None,
            }
        if len(parts) == 5 and method == "POST":
            if one.get("Status") == "disconnected":
                participant["status"] = "disconnected"
            return 200, {
                "sid": participant["sid"],
                "room_sid": sid,
                "account_sid": self.account_sid,
                "status": participant["status"],
                "identity": participant["identity"],
            }
        return 405, _error(20004, "Method not allowed", 405)

    def _composition(self, method: str, parts: list[str], one: dict[str, str]) -> tuple[int, dict]:
        if len(parts) == 2 and method == "POST":
            if self.room(one.get("RoomSid", "")) is None:
                return 400, _error(53100, "Room not found", 400)
            sid = "CJ" + secrets.token_hex(16)
            self.compositions[sid] = {
                "sid": sid,
                "account_sid": self.account_sid,
                "room_sid": one["RoomSid"],
                "status": "enqueued",
                "format": one.get("Format", "webm"),
                "status_callback": one.get("StatusCallback"),
                "url": f"https://video.twilio.com/v1/Compositions/{sid}",
                "links": {"media": f"https://video.twilio.com/v1/Compositions/{sid}/Media"},
            }
            return 201, self.compositions[sid]
        composition = self.compositions.get(parts[2]) if len(parts) >= 3 else None
        if composition is None:
            return 404, _error(20404, "The requested resource was not found", 404)
        if len(parts) == 4 and parts[3] == "Media" and method == "GET":
            return 200, {"redirect_to": f"https://media.example.test/{composition['sid']}.mp4?signature=s3cr3t"}
        if len(parts) == 3 and method == "GET":
            return 200, composition
        return 405, _error(20004, "Method not allowed", 405)

    def _room_json(self, sid: str, one: dict[str, str]) -> dict:
        return {
            "sid": sid,
            "status": "in-progress",
            "date_created": "2026-11-23T13:00:00Z",
            "date_updated": "2026-11-23T13:00:00Z",
            "account_sid": self.account_sid,
            "enable_turn": True,
            "unique_name": one.get("UniqueName") or sid,
            "status_callback": one.get("StatusCallback"),
            "status_callback_method": one.get("StatusCallbackMethod", "POST"),
            "end_time": None,
            "duration": None,
            "type": one.get("Type", "group"),
            "max_participants": int(one.get("MaxParticipants", 50)),
            "max_participant_duration": 14400,
            "max_concurrent_published_tracks": 170,
            "record_participants_on_connect": False,
            "video_codecs": ["VP8", "H264"],
            "media_region": "us1",
            "audio_only": False,
            "empty_room_timeout": int(one.get("EmptyRoomTimeout", 5)),
            "unused_room_timeout": int(one.get("UnusedRoomTimeout", 5)),
            "large_room": False,
            "url": f"https://video.twilio.com/v1/Rooms/{sid}",
            "links": {"participants": f"https://video.twilio.com/v1/Rooms/{sid}/Participants"},
        }


def _error(code: int, message: str, status: int) -> dict:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def start(stub: TwilioStub) -> ThreadingHTTPServer:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            form = parse_qs(raw, keep_blank_values=True)
            auth = None
            header = self.headers.get("Authorization", "")
            if header.startswith("Basic "):
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                auth = (user, password)
            path = urlparse(self.path).path
            if stub.hang_seconds:
                time.sleep(stub.hang_seconds)
            with lock:
                stub.requests.append(Recorded(self.command, path, form, auth, dict(self.headers)))
                status, body = stub.handle(self.command, path, form)
            payload = (body if isinstance(body, str) else json.dumps(body)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if payload.startswith(b"{") else "text/html")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server

"""A local HTTP server standing in for the Stripe API, for tests of the real provider.

It records every request (method, path, headers, decoded form body) and answers with Stripe-shaped
JSON. Tests script failures per path: an HTTP status with Stripe's error body, or a delay longer
than the client's timeout.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class Failure:
    status: int = 500
    error: dict[str, Any] = field(default_factory=lambda: {"type": "api_error", "message": "Something went wrong."})
    delay: float = 0.0
    times: int = 1_000_000


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class StripeStub:
    def __init__(self):
        self.requests: list[Recorded] = []
        self.failures: dict[tuple[str, str], Failure] = {}
        self.objects: dict[str, dict] = {}
        self.responses: dict[tuple[str, str], dict] = {}
        self.lock = threading.Lock()
        self.delay = 0.0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                path = self.path.split("?", 1)[0]
                query = self.path.split("?", 1)[1] if "?" in self.path else ""
                form = dict(parse_qsl(body or query, keep_blank_values=True))
                with stub.lock:
                    stub.requests.append(Recorded(self.command, path, dict(self.headers.items()), form))
                status, payload, delay = stub.respond(self.command, path, form)
                if delay:
                    time.sleep(delay)
                raw = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.send_header("Request-Id", _id("req"))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StripeStub:
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    # --- scripting ------------------------------------------------------------------------------

    def fail(self, method: str, path: str, failure: Failure) -> None:
        self.failures[(method, path)] = failure

    def calls(self, method: str, path: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    # --- Stripe-shaped answers ------------------------------------------------------------------

    def respond(self, method: str, path: str, form: dict[str, str]) -> tuple[int, dict, float]:
        with self.lock:
            failure = self.failures.get((method, path))
            if failure and failure.times > 0:
                failure.times -= 1
                return failure.status, {"error": failure.error}, failure.delay
            canned = self.responses.get((method, path))
        if canned is not None:
            return 200, canned, self.delay
        obj = self.build(method, path, form)
        if obj is None:
            error = {"type": "invalid_request_error", "message": f"Unrecognized request URL ({method}: {path})."}
            return 404, {"error": error}, 0.0
        return 200, obj, self.delay

    def build(self, method: str, path: str, form: dict[str, str]) -> dict | None:
        parts = path.strip("/").split("/")
        metadata = {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")}
        if method == "POST" and path == "/v1/payment_intents":
            pi = _id("pi")
            obj = {
                "id": pi,
                "object": "payment_intent",
                "amount": int(form["amount"]),
                "currency": form["currency"],
                "client_secret": f"{pi}_secret_{secrets.token_hex(8)}",
                "status": "requires_payment_method",
                "metadata": metadata,
                "transfer_group": form.get("transfer_group"),
                "livemode": False,
            }
        elif method == "POST" and len(parts) == 4 and parts[1] == "payment_intents" and parts[3] == "cancel":
            obj = {**self.objects.get(parts[2], {"id": parts[2], "object": "payment_intent"}), "status": "canceled"}
        elif method == "GET" and len(parts) == 3 and parts[1] == "payment_intents":
            obj = self.objects.get(parts[2], {"id": parts[2], "object": "payment_intent", "status": "succeeded"})
        elif method == "POST" and path == "/v1/refunds":
            obj = {
                "id": _id("re"),
                "object": "refund",
                "amount": int(form["amount"]),
                "currency": "usd",
                "payment_intent": form["payment_intent"],
                "metadata": metadata,
                "status": "succeeded",
            }
        elif method == "POST" and path == "/v1/accounts":
            obj = {
                "id": f"acct_{secrets.token_hex(8)}",
                "object": "account",
                "metadata": metadata,
                "payouts_enabled": False,
                "charges_enabled": False,
                "details_submitted": False,
                "capabilities": {"transfers": "inactive"},
            }
        elif method == "POST" and path == "/v1/account_links":
            obj = {
                "object": "account_link",
                "url": f"https://connect.stripe.test/setup/{secrets.token_hex(6)}",
                "created": int(time.time()),
                "expires_at": int(time.time()) + 300,
            }
        elif method == "POST" and path == "/v1/transfers":
            obj = {
                "id": _id("tr"),
                "object": "transfer",
                "amount": int(form["amount"]),
                "currency": form["currency"],
                "destination": form["destination"],
                "metadata": metadata,
                "reversed": False,
                "transfer_group": form.get("transfer_group"),
            }
        else:
            return None
        if "id" in obj:
            self.objects[obj["id"]] = obj
        return obj

"""Start real server processes (gunicorn, daphne) on the test database for multi-process tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def server(kind: str, *, env: dict[str, str], port: int | None = None, timeout: float = 30) -> Iterator[str]:
    """Run `kind` ("gunicorn" for WSGI, "daphne" for ASGI) until the block ends; yields its base URL."""
    port = port or free_port()
    if kind == "gunicorn":
        cmd = [sys.executable, "-m", "gunicorn", "tutoring.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "-t", "60"]
    elif kind == "daphne":
        cmd = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "tutoring.asgi:application"]
    else:
        raise ValueError(kind)
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{kind} exited early:\n{proc.stdout.read()}")
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind} did not become healthy on {base}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

"""Start real server processes (gunicorn, daphne, or any command with a /healthz) for multi-process
tests and for the benchmarks in bench/."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def command(kind: str, port: int, *, workers: int = 1) -> list[str]:
    """The command line of our WSGI ("gunicorn") or ASGI ("daphne") server on 127.0.0.1:`port`."""
    if kind == "gunicorn":
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "tutoring.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "-t",
            "60",
        ]
    if kind == "daphne":
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "tutoring.asgi:application"]
    raise ValueError(kind)


@dataclass
class Running:
    """A server process started by `running`: its base URL, the process itself and its output."""

    base: str
    proc: subprocess.Popen
    output: IO[str]

    def log(self) -> str:
        self.output.seek(0)
        return self.output.read()


@contextlib.contextmanager
def running(
    cmd: list[str], *, base: str, env: dict[str, str], cwd: Path = ROOT, timeout: float = 30
) -> Iterator[Running]:
    """Run `cmd` until the block ends, once `base`/healthz answers 200; yields the running server.

    Output goes to a file, not a pipe: a busy server would block on a pipe nobody reads. A test may
    stop or kill the process itself (fault tests); otherwise it is terminated at the end.
    """
    with tempfile.TemporaryFile(mode="w+") as output:
        # A saturated test machine must not turn a slow Redis answer into a 503 (fault tests set their own).
        env = {"CACHE_SOCKET_TIMEOUT": "5", **env}
        proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    output.seek(0)
                    raise RuntimeError(f"{cmd[0]} exited early:\n{output.read()}")
                try:
                    if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{' '.join(cmd)} did not become healthy on {base}")
                time.sleep(0.2)
            yield Running(base=base, proc=proc, output=output)
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@contextlib.contextmanager
def process(cmd: list[str], *, base: str, env: dict[str, str], cwd: Path = ROOT, timeout: float = 30) -> Iterator[str]:
    """Run `cmd` until the block ends, once `base`/healthz answers 200; yields `base`."""
    with running(cmd, base=base, env=env, cwd=cwd, timeout=timeout) as server_process:
        yield server_process.base


@contextlib.contextmanager
def server_process(
    kind: str, *, env: dict[str, str], port: int | None = None, timeout: float = 30, workers: int = 1
) -> Iterator[Running]:
    """Run our `kind` ("gunicorn" for WSGI, "daphne" for ASGI) until the block ends; yields it running."""
    port = port or free_port()
    with running(
        command(kind, port, workers=workers), base=f"http://127.0.0.1:{port}", env=env, timeout=timeout
    ) as started:
        yield started


@contextlib.contextmanager
def server(
    kind: str, *, env: dict[str, str], port: int | None = None, timeout: float = 30, workers: int = 1
) -> Iterator[str]:
    """Run our `kind` ("gunicorn" for WSGI, "daphne" for ASGI) until the block ends; yields its base URL."""
    with server_process(kind, env=env, port=port, timeout=timeout, workers=workers) as started:
        yield started.base

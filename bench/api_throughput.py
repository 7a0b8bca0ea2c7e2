"""Throughput and latency of authenticated API reads, plus the queries each endpoint costs.

    .venv/bin/python bench/api_throughput.py [--server gunicorn|daphne] [--workers 2]
                                             [--concurrency 32] [--seconds 10] [--path /api/tutors]

Uses DATABASE_URL / REDIS_URL when set, else a throwaway SQLite file. Starts the server itself, loads
it from one asyncio client process with keep-alive connections, and prints requests/s and latency
percentiles. Numbers depend on the machine; compare runs on the same one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup_django() -> None:
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tutoring.settings")
    os.environ.setdefault("RATE_LIMIT_API", "100000000/m")  # measure the API, not the limiter's 429s
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed() -> str:
    from rest_framework_simplejwt.tokens import AccessToken

    from tutoring.models import Role, TutorProfile, TutorSubject, User

    student, _ = User.objects.get_or_create(
        email="bench-student@bench.test", defaults={"name": "Bench", "role": "student"}
    )
    for i in range(30):
        tutor, created = User.objects.get_or_create(
            email=f"bench-tutor-{i}@bench.test", defaults={"name": f"Tutor {i}", "role": Role.TUTOR}
        )
        if created:
            profile = TutorProfile.objects.create(user=tutor, hourly_rate=4000 + i)
            TutorSubject.objects.create(tutor=profile, name="Mathematics")
    return str(AccessToken.for_user(student))


def query_counts(token: str, paths: list[str]) -> dict[str, int]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    counts = {}
    for path in paths:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path).status_code == 200, path
        counts[path] = len(ctx.captured_queries)
    return counts


async def load(url: str, token: str, concurrency: int, seconds: float) -> tuple[list[float], int]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker():
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors


def run_wrk(url: str, token: str, concurrency: int, seconds: float) -> str:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{concurrency}",
            f"-d{int(seconds)}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    keep = ("Requests/sec", "50%", "90%", "99%", "Non-2xx", "requests in")
    return "\n".join(line.rstrip() for line in out.splitlines() if line.strip().startswith(keep))


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=1000)[int(p * 10) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", choices=["gunicorn", "daphne"], default="gunicorn")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--path", default="/api/tutors")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--client",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="wrk (Debian package) loads the server without competing for the GIL; python is the fallback",
    )
    args = parser.parse_args()

    setup_django()
    from django.conf import settings

    from tutoring.tests.servers import server

    token = seed()
    counts = query_counts(token, ["/api/auth/me", "/api/tutors", "/api/bookings"])
    print("queries per request: " + ", ".join(f"{p} {n}" for p, n in counts.items()))

    # The server runs as in production (DEBUG off) but verifies the tokens minted here.
    env = {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)}
    env["DJANGO_SECURE_SSL_REDIRECT"] = "0"  # plain HTTP on loopback: otherwise every answer is a 301
    env["JWT_SIGNING_KEY"] = os.environ.get("JWT_SIGNING_KEY", settings.SIMPLE_JWT["SIGNING_KEY"])
    workers = f"{args.workers} workers" if args.server == "gunicorn" else "1 process"
    with server(args.server, env=env, port=args.port, workers=args.workers) as base:
        asyncio.run(load(base + args.path, token, 4, 1.0))  # warm-up
        if args.client == "wrk" or (args.client == "auto" and shutil.which("wrk")):
            print(f"{args.server} ({workers}) GET {args.path}, wrk -c{args.concurrency}:")
            print(run_wrk(base + args.path, token, args.concurrency, args.seconds))
            return
        started = time.perf_counter()
        latencies, errors = asyncio.run(load(base + args.path, token, args.concurrency, args.seconds))
        elapsed = time.perf_counter() - started

    print(
        f"{args.server} ({workers}) GET {args.path} concurrency {args.concurrency}: "
        f"{len(latencies) / elapsed:.0f} req/s, {len(latencies)} requests, {errors} errors, "
        f"p50 {percentile(latencies, 50) * 1000:.1f} ms, p90 {percentile(latencies, 90) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 99) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()

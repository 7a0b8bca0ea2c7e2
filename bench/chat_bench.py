"""Realtime chat under load: our stack (daphne, socket.io /live, every message stored) against a plain
Node socket.io server with the Redis adapter relaying the same events (no persistence).

    .venv/bin/python bench/chat_bench.py [--classrooms 50] [--rate 4] [--seconds 20] [--only ours|baseline]

Both sides are driven by bench/chat_load.js (the official socket.io-client, default transports, two
users per classroom, `--rate` messages/s per user), which reports sent, received, lost and the
send-to-receipt latency at the other participant. Uses DATABASE_URL / REDIS_URL when set (set both for
production-like figures: PostgreSQL and channels-redis); without DATABASE_URL a throwaway SQLite file,
without REDIS_URL the in-memory layer (and no baseline, which needs Redis). Needs `npm ci --prefix bench`.
The chat limit is raised for the run (RATE_LIMIT_CHAT): 4 msg/s per user is over 60/minute, and the
point is the cost of the path, whose counting still runs. Numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))

from tutoring.tests.servers import process, server  # noqa: E402  (needs the project on the path)

SERVER_ENV = {
    "DJANGO_DEBUG": "0",
    # Random per run: with DJANGO_DEBUG=0 the settings refuse guessable keys.
    "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
    "JWT_SIGNING_KEY": os.environ.get("JWT_SIGNING_KEY") or secrets.token_urlsafe(50),
    "JWT_ACCESS_MINUTES": "120",
    "RATE_LIMIT_CHAT": "1000000/m",
    "RATE_LIMIT_API": "1000000/m",
    "LOG_LEVEL": "WARNING",
    "CACHE_KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", f"bench-{os.getpid()}"),
}


def cpu_seconds(stat: Path) -> float:
    """User + system CPU time so far of the process or thread whose /proc `stat` file this is."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def setup_django() -> None:
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    os.environ.update(SERVER_ENV)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tutoring.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(classrooms: int) -> list[dict]:
    """`classrooms` paid bookings with an open session each; returns ids and both parties' tokens."""
    from rest_framework_simplejwt.tokens import AccessToken

    from live.tests.factories import many_classrooms

    return [
        {
            "sessionId": str(session.pk),
            "tokens": [str(AccessToken.for_user(u)) for u in (session.booking.tutor, session.booking.student)],
        }
        for session in many_classrooms(classrooms, label=f"bench-{uuid.uuid4().hex[:8]}")
    ]


def run_load(urls: list[str], rooms: list[dict], rate: float, seconds: float, *, connect_batch: int = 1) -> dict:
    config = {
        "urls": urls,
        "rate": rate,
        "seconds": seconds,
        "drainSeconds": 30,
        "connectBatch": connect_batch,
        "classrooms": rooms,
    }
    done = subprocess.run(
        ["node", str(BENCH / "chat_load.js")],
        input=json.dumps(config),
        capture_output=True,
        text=True,
        timeout=seconds + 300,
        cwd=BENCH,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout)


def bench_ours(rooms: list[dict], args) -> dict:
    from live.models import Message

    if args.url:  # a server started by hand (e.g. under a profiler), with SERVER_ENV
        result = run_load([args.url], rooms, args.rate, args.seconds)
    else:
        with contextlib.ExitStack() as stack:
            urls = [
                stack.enter_context(server("daphne", env=SERVER_ENV, port=args.port + i, timeout=60))
                for i in range(args.processes)
            ]
            result = run_load(urls, rooms, args.rate, args.seconds)
    result["stored"] = Message.objects.filter(session_id__in=[r["sessionId"] for r in rooms]).count()
    return result


def bench_baseline(rooms: list[dict], args) -> dict:
    port = args.port + 100
    base = f"http://127.0.0.1:{port}"
    cmd = ["node", str(BENCH / "baseline_server.js")]
    with process(cmd, base=base, env={"PORT": str(port)}, cwd=BENCH, timeout=60):
        result = run_load([base], rooms, args.rate, args.seconds)
    result["stored"] = None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classrooms", type=int, default=50)
    parser.add_argument("--rate", type=float, default=4.0, help="messages per second per user")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--port", type=int, default=8300)
    parser.add_argument("--processes", type=int, default=1, help="daphne processes for our stack")
    parser.add_argument("--only", choices=["ours", "baseline"])
    parser.add_argument("--json", help="also write every run's full result (percentiles, per second) here")
    parser.add_argument("--url", help="load this already running server (started with SERVER_ENV) as ours")
    args = parser.parse_args()
    if not (BENCH / "node_modules" / "socket.io-client").is_dir():
        sys.exit("run `npm ci --prefix bench` first")
    setup_django()
    rooms = seed(args.classrooms)
    from django.conf import settings

    print(
        f"{args.classrooms} classrooms x 2 users, {args.rate:g} msg/s per user, {args.seconds:g} s; "
        f"database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
        f"channel layer {settings.CHANNEL_LAYERS['default']['BACKEND'].rsplit('.', 1)[-1]}"
    )
    results = {}
    if args.only in (None, "ours"):
        results[f"ours ({args.processes} daphne, stored)"] = bench_ours(rooms, args)
    if args.only in (None, "baseline"):
        if not os.environ.get("REDIS_URL"):
            print("baseline skipped: it needs REDIS_URL")
        else:
            results["baseline (node + redis adapter)"] = bench_baseline(rooms, args)
    header = f"{'server':34} {'sent':>7} {'acked':>7} {'received':>8} {'lost':>5} {'errors':>6} {'stored':>7}"
    header += f" {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    print(header)
    for name, r in results.items():
        stored = "-" if r["stored"] is None else r["stored"]
        print(
            f"{name:34} {r['sent']:>7} {r['acked']:>7} {r['received']:>8} {r['lost']:>5} {r['errors']:>6} {stored:>7}"
            f" {r['p50']:>8} {r['p90']:>8} {r['p99']:>8} {r['max']:>8}"
        )
        if r["errorSamples"]:
            print("  errors:", r["errorSamples"])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

"""REST reads against a bare DRF + simplejwt view, side by side under one gunicorn (issue 13's REST goals).

    DATABASE_URL=postgres://… REDIS_URL=redis://… .venv/bin/python bench/rest_bench.py \
        [--workers 2] [--concurrency 32] [--seconds 10] [--rounds 2] [--json PATH]

One gunicorn (×2 workers, `DJANGO_DEBUG=0`) serves the product and the baseline views of
`bench/restbase/` (settings `bench.restbase.settings`: the product's URLs plus the baseline's). `wrk`
loads each endpoint in turn with the same parameters; rounds alternate the order, and each figure is
the median of the rounds. Printed per endpoint: requests/s, p50/p99 latency, non-2xx responses, the
queries one request makes (Django's own count, in-process), the PostgreSQL statements the server
ran per request under the load (the database's own transaction counter: this includes what Django's
query log does not see, such as a connection check), and the CPU time per request of gunicorn's
workers and of the bench database's PostgreSQL processes (from /proc; Redis is shared with other
work, so its part is not counted). `/healthz` is timed over one connection.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from tutoring.tests.servers import running  # noqa: E402  (needs the project on the path)

SETTINGS = "bench.restbase.settings"


def setup_django() -> None:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (and REDIS_URL): the goals are about PostgreSQL.")
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    os.environ.setdefault("RATE_LIMIT_API", "100000000/m")  # measure the API, not the limiter's 429s
    # The server runs with DEBUG off, which refuses development keys; tokens are minted here with the same.
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("JWT_SIGNING_KEY", secrets.token_urlsafe(50))
    # Plain HTTP in-process too (the query counts): under `run_all.py`, which leaves DJANGO_DEBUG=0 in
    # the environment, every read was otherwise answered 301 by the HTTPS redirect.
    os.environ["DJANGO_SECURE_SSL_REDIRECT"] = "0"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed() -> dict[str, str]:
    from rest_framework_simplejwt.tokens import AccessToken

    from live.models import Session
    from live.tests.factories import SessionFactory, store_one

    session = Session.objects.filter(room_name__startswith="booking-").select_related("booking__student").first()
    if session is None:
        session = SessionFactory()
        for i in range(20):
            store_one(session_id=session.pk, sender=session.booking.student, content=f"message {i}")
    from django.db import connection

    if connection.vendor == "postgresql":
        # Other benchmarks may just have bulk-inserted thousands of rows (run_all.py's idle connections)
        # that autovacuum has not analyzed yet: with stale statistics PostgreSQL plans the participants
        # read as a scan of every user, and both sides of the comparison measure that instead.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return {"token": str(AccessToken.for_user(session.booking.student)), "session": str(session.pk)}


def targets(session: str) -> dict[str, str]:
    return {
        "participants": f"/api/live/sessions/{session}/participants",
        "baseline (one query)": f"/bench/baseline/sessions/{session}/participants",
        "baseline (no query)": "/bench/baseline/noquery",
        "auth/me": "/api/auth/me",
        "bookings": "/api/bookings",
        "messages": f"/api/live/sessions/{session}/messages",
    }


def query_counts(token: str, paths: dict[str, str]) -> dict[str, int]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    counts = {}
    for name, path in paths.items():
        client.get(path)  # warm: anything cached per process is cached, as in a running server
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.content[:300])
        counts[name] = len(ctx.captured_queries)
    return counts


def pg_statements() -> int:
    """Statements run in this database so far (autocommit: one transaction each), as PostgreSQL counts."""
    from django.db import connection

    time.sleep(1.2)  # each server process reports its counts at most once a second
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def cpu_ms(pids: list[int]) -> dict[int, float]:
    """CPU time (user + system) each process has used so far, in ms."""
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) * TICK_MS
    return used


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """What the processes alive at both readings used in between."""
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys())


def workers(master: int) -> list[int]:
    return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def database_backends(name: str) -> list[int]:
    """The PostgreSQL server processes serving database `name` (the bench's own: no one else's work)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if cmdline.startswith("postgres: ") and f" {name} " in cmdline:
                found.append(int(entry.name))
    return found


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, *, token: str | None, connections: int, seconds: float, threads: int = 2) -> dict[str, float]:
    cmd = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{int(seconds)}s", "--latency"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    figures: dict[str, float] = {"non2xx": 0}
    for line in out.splitlines():
        line = line.strip()
        if m := re.match(r"(50|90|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)$", line):
            figures[f"p{m[1]}_ms"] = float(m[2]) * UNITS[m[3]]
        elif m := re.match(r"Requests/sec:\s+([\d.]+)", line):
            figures["rps"] = float(m[1])
        elif m := re.match(r"(\d+) requests in", line):
            figures["requests"] = int(m[1])
        elif m := re.match(r"Non-2xx or 3xx responses:\s+(\d+)", line):
            figures["non2xx"] = int(m[1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed (apt-get install wrk).")

    setup_django()
    seeded = seed()
    token, paths = seeded["token"], targets(seeded["session"])
    counts = query_counts(token, paths)

    env = {
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECURE_SSL_REDIRECT": "0",  # plain HTTP on loopback; a redirect would be all we measured
        # Connections for the whole run: a backend that exits takes its CPU count with it.
        "DATABASE_CONN_MAX_AGE": "3600",
    }
    cmd = [sys.executable, "-m", "gunicorn", "tutoring.wsgi", "-b", f"127.0.0.1:{args.port}"]
    cmd += ["-w", str(args.workers), "-t", "60"]
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in paths}
    health: list[dict[str, float]] = []
    from django.db import connection

    db_name = connection.settings_dict["NAME"]
    with running(cmd, base=f"http://127.0.0.1:{args.port}", env=env) as server:
        base = server.base
        answers = {}
        for name, path in paths.items():
            response = requests.get(base + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert response.status_code == 200, f"{name}: {response.status_code}"
            answers[name] = response.json()
        # The baseline answers what the endpoint answers (the product's is in the contract's envelope).
        assert answers["baseline (one query)"]["participants"] == answers["participants"]["data"]["participants"]
        for path in paths.values():  # warm every worker's code path and connections
            wrk(base + path, token=token, connections=args.workers * 2, seconds=1)
        for round_ in range(args.rounds):
            order = list(paths) if round_ % 2 == 0 else list(reversed(paths))
            for name in order:
                before = pg_statements()
                procs, backends = workers(server.proc.pid), database_backends(db_name)
                cpu_before = cpu_ms(procs), cpu_ms(backends)
                figures = wrk(base + paths[name], token=token, connections=args.concurrency, seconds=args.seconds)
                n = max(1, figures["requests"])
                figures["worker_cpu_ms"] = cpu_spent(cpu_before[0], cpu_ms(procs)) / n
                figures["postgres_cpu_ms"] = cpu_spent(cpu_before[1], cpu_ms(backends)) / n
                figures["pg_statements_per_request"] = (pg_statements() - before - 3) / max(1, figures["requests"])
                runs[name].append(figures)
            health.append(wrk(base + "/healthz", token=None, connections=1, seconds=min(5, args.seconds)))

    def median(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(row.get(key, 0) for row in rows)

    def cpu(row: dict) -> float:
        return row["worker_cpu_ms"] + row["postgres_cpu_ms"]

    results = {}
    for name, rows in runs.items():
        results[name] = {
            "path": paths[name],
            "rps": median(rows, "rps"),
            "p50_ms": median(rows, "p50_ms"),
            "p99_ms": median(rows, "p99_ms"),
            "non2xx": sum(row["non2xx"] for row in rows),
            "queries_per_request": counts[name],
            "pg_statements_per_request": round(median(rows, "pg_statements_per_request"), 2),
            "worker_cpu_ms": round(median(rows, "worker_cpu_ms"), 3),
            "postgres_cpu_ms": round(median(rows, "postgres_cpu_ms"), 3),
            "rounds_rps": [row.get("rps") for row in rows],
        }
    baseline = results["baseline (one query)"]["rps"]
    report = {
        "server": f"gunicorn ×{args.workers} (sync workers), DJANGO_DEBUG=0",
        "load": f"wrk -t2 -c{args.concurrency} -d{int(args.seconds)}s, {args.rounds} rounds, medians",
        "endpoints": results,
        "participants_vs_baseline": round(results["participants"]["rps"] / baseline, 3) if baseline else None,
        # CPU is what a saturated machine runs out of: the ratio of the CPU per request (gunicorn's
        # workers plus the bench database's PostgreSQL processes) is steadier than req/s on a shared box.
        "participants_vs_baseline_cpu": round(cpu(results["baseline (one query)"]) / cpu(results["participants"]), 3),
        "healthz": {
            "load": "wrk -t1 -c1",
            "rps": median(health, "rps"),
            "p50_ms": median(health, "p50_ms"),
            "p99_ms": median(health, "p99_ms"),
            "non2xx": sum(row["non2xx"] for row in health),
        },
    }

    print(f"{report['server']}; {report['load']}")
    print(
        f"{'endpoint':<22} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>7} {'queries':>7} "
        f"{'pg stmts':>8} {'cpu ms':>6} {'pg cpu':>6}"
    )
    for name, row in results.items():
        print(
            f"{name:<22} {row['rps']:>7.0f} {row['p50_ms']:>7.2f} {row['p99_ms']:>7.2f} {row['non2xx']:>7} "
            f"{row['queries_per_request']:>7} {row['pg_statements_per_request']:>8.2f} "
            f"{row['worker_cpu_ms']:>6.2f} {row['postgres_cpu_ms']:>6.2f}"
        )
    print(f"participants / baseline (one query): {report['participants_vs_baseline']} in req/s, ", end="")
    print(f"{report['participants_vs_baseline_cpu']} in CPU per request (baseline's / ours)")
    h = report["healthz"]
    print(f"/healthz, one connection: {h['rps']:.0f} req/s, p50 {h['p50_ms']:.2f} ms, p99 {h['p99_ms']:.2f} ms")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

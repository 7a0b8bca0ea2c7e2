"""Latency of GET /api/withdrawals/stats for a tutor with a long history.

    .venv/bin/python bench/stats_latency.py [--payments 10000] [--withdrawals 1000] [--requests 500]

Writes the history straight into the ledger (payment, fee and release entries per payment; request
and paid entries per withdrawal), then times the whole request path in-process (middleware, JWT,
DRF, the aggregate query, rendering) and prints p50/p90/p99 and the queries per request. Uses
DATABASE_URL when set (PostgreSQL is what production runs), else a throwaway SQLite file.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=10_000)
    parser.add_argument("--withdrawals", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()

    from inprocess import setup_django

    setup_django()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework_simplejwt.tokens import AccessToken

    from payments.models import LedgerBalance, LedgerEntry
    from payments.tests.factories import ledger_history
    from tutoring.models import Role, TutorProfile, User

    call_command("migrate", verbosity=0)
    tutor = User.objects.create_user(email=f"bench-{uuid.uuid4().hex[:8]}@bench.test", name="Bench", role=Role.TUTOR)
    TutorProfile.objects.create(user=tutor, hourly_rate=6000)
    started = time.perf_counter()
    ledger_history(tutor, payments=args.payments, withdrawals=args.withdrawals)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE payments_ledgerentry")
    rows = LedgerEntry.objects.filter(tutor=tutor).count()
    print(f"seeded {rows} ledger entries in {time.perf_counter() - started:.1f}s on {connection.vendor}")

    client = Client(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(tutor)}")
    with CaptureQueriesContext(connection) as ctx:
        body = client.get("/api/withdrawals/stats").json()["data"]
    print(f"stats: {body}")
    print(f"queries per request: {len(ctx.captured_queries)}")
    for _ in range(20):  # warm-up
        client.get("/api/withdrawals/stats")
    times = []
    for _ in range(args.requests):
        t0 = time.perf_counter()
        response = client.get("/api/withdrawals/stats")
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200
    q = statistics.quantiles(times, n=100)
    print(
        f"GET /api/withdrawals/stats, {args.payments} payments + {args.withdrawals} withdrawals, "
        f"{args.requests} requests: p50 {q[49]:.2f} ms, p90 {q[89]:.2f} ms, p99 {q[98]:.2f} ms"
    )
    LedgerBalance.objects.filter(tutor=tutor).delete()
    LedgerEntry.objects.filter(tutor=tutor).delete()
    TutorProfile.objects.filter(user=tutor).delete()
    tutor.delete()


if __name__ == "__main__":
    main()

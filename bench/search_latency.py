"""Latency of the tutor search, GET /api/tutors?q=&subject=&minRate=&maxRate=&sort=, over many tutors.

    DATABASE_URL=postgres://… .venv/bin/python bench/search_latency.py [--tutors 10000] [--requests 300]

Seeds N tutors (names, a bio of a few sentences, one to three of 40 subjects, a rate, a rating for
most), lets the database's triggers write their search vectors, then times the whole request path
in-process (middleware, JWT, DRF, the search and the page query, rendering 20 tutors) for a mix of
searches and prints p50/p99 of each and of all together, the queries per request, and PostgreSQL's
plan of the ranked full-text search. Uses DATABASE_URL when set (the full-text search is
PostgreSQL's), else a throwaway SQLite file (a plain match). The seeded tutors are deleted at the end.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SUBJECTS = [
    "Mathematics", "Algebra", "Calculus", "Statistics", "Geometry", "Physics", "Chemistry", "Biology",
    "English", "Writing", "Literature", "French", "German", "Spanish", "Mandarin", "Japanese", "Korean",
    "History", "Geography", "Economics", "Accounting", "Programming", "Python", "JavaScript", "Data science",
    "Piano", "Guitar", "Violin", "Singing", "Music theory", "Drawing", "Painting", "Photography", "Chess",
    "Philosophy", "Psychology", "Law", "Medicine", "SAT preparation", "IELTS preparation",
]  # fmt: skip
SEARCHES = [
    ("words, ranked", {"q": "calculus"}),
    ("two words, ranked", {"q": "piano teacher"}),
    ("word beginning, ranked", {"q": "chem"}),
    ("words + subject", {"q": "exam", "subject": "Physics"}),
    ("words + rate range", {"q": "patient", "minRate": 3000, "maxRate": 6000}),
    ("words, by price", {"q": "guitar", "sort": "price"}),
    ("subject, by rating", {"subject": "Mathematics", "sort": "rating"}),
    ("all, by rating", {"sort": "rating"}),
    ("all, by price high to low", {"sort": "-price"}),
    ("all, newest", {}),
]


# The searches whose page query's plan is printed.
PLANS = ("two words, ranked", "all, by rating")


def seed(count: int, run: str) -> None:
    from decimal import Decimal

    from django.contrib.auth.hashers import make_password
    from faker import Faker

    from tutoring.models import Role, TutorProfile, TutorSubject, User

    fake, rng = Faker(), random.Random(7)
    Faker.seed(7)
    password = make_password(None)
    users = [
        User(email=f"t{i}-{run}@bench.test", name=fake.name(), role=Role.TUTOR, password=password) for i in range(count)
    ]
    User.objects.bulk_create(users, batch_size=2000)
    profiles, subjects = [], []
    for user in users:
        taught = rng.sample(SUBJECTS, rng.randint(1, 3))
        reviews = rng.choice([0, 0, rng.randint(1, 80)])
        profiles.append(
            TutorProfile(
                user=user,
                hourly_rate=rng.choice([None, *range(1500, 12000, 500)]),
                bio=f"I teach {', '.join(taught).lower()}. {fake.paragraph(nb_sentences=4)} "
                f"{rng.choice(['Patient and clear.', 'Exam preparation.', 'Beginners welcome.', ''])}",
                rating=Decimal(rng.randint(10, 50)) / 10 if reviews else None,
                reviews_count=reviews,
            )
        )
        subjects += [TutorSubject(tutor_id=user.pk, name=name, position=i) for i, name in enumerate(taught)]
    TutorProfile.objects.bulk_create(profiles, batch_size=2000)
    TutorSubject.objects.bulk_create(subjects, batch_size=5000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tutors", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300, help="per search")
    parser.add_argument("--keep", action="store_true", help="keep the seeded tutors (to look at plans)")
    args = parser.parse_args()

    from inprocess import setup_django

    setup_django()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from rest_framework_simplejwt.tokens import AccessToken

    from tutoring.models import Role, TutorProfile, User

    call_command("migrate", verbosity=0)
    run = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    seed(args.tutors, run)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # What autovacuum does in production after a bulk load: the search index's pending entries
            # are merged and the planner knows the tables.
            for table in ("tutoring_tutorprofile", "tutoring_tutorsubject", "tutoring_user"):
                cursor.execute(f"VACUUM ANALYZE {table}")
    total = TutorProfile.objects.count()
    took = time.perf_counter() - started
    print(f"seeded {args.tutors} tutors ({total} in all) in {took:.1f}s on {connection.vendor}")

    reader = User.objects.create_user(email=f"reader-{run}@bench.test", name="Reader", role=Role.STUDENT)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(reader)}")
    everything, plans = [], {}
    try:
        for label, params in SEARCHES:
            queries: list[tuple[str, tuple]] = []
            database = [0.0]  # seconds spent in the database during the current request

            def record(execute, sql, sql_params, many, context, queries=queries, database=database):
                queries.append((sql, sql_params))
                t0 = time.perf_counter()
                try:
                    return execute(sql, sql_params, many, context)
                finally:
                    database[0] += time.perf_counter() - t0

            with connection.execute_wrapper(record):
                page = client.get("/api/tutors", params).json()["data"]
                per_request = len(queries)
                for _ in range(10):  # warm-up
                    client.get("/api/tutors", params)
                times, in_database = [], []
                for _ in range(args.requests):
                    database[0] = 0.0
                    t0 = time.perf_counter()
                    response = client.get("/api/tutors", params)
                    times.append((time.perf_counter() - t0) * 1000)
                    in_database.append(database[0] * 1000)
                    assert response.status_code == 200, response.content
            everything += times
            q, d = statistics.quantiles(times, n=100), statistics.quantiles(in_database, n=100)
            print(
                f"{label:28} {len(page['tutors']):>2} shown, {per_request} queries: "
                f"p50 {q[49]:6.2f} ms  p99 {q[98]:6.2f} ms"
                f"   (database p50 {d[49]:5.2f} ms, p99 {d[98]:5.2f} ms)"
            )
            if label in PLANS:
                plans[label] = next(query for query in queries if "tutoring_tutorprofile" in query[0])
        q = statistics.quantiles(everything, n=100)
        print(f"all searches, {len(everything)} requests over {total} tutors: p50 {q[49]:.2f} ms, p99 {q[98]:.2f} ms")
        if connection.vendor == "postgresql":
            for label, (sql, sql_params) in plans.items():
                with connection.cursor() as cursor:
                    cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", sql_params)
                    print(f"\nplan of the page query, {label}:")
                    print("\n".join(row[0] for row in cursor.fetchall()))
    finally:
        if not args.keep:
            User.objects.filter(email__endswith=f"-{run}@bench.test").delete()


if __name__ == "__main__":
    main()

"""Django set up inside a benchmark's own process, as production runs it, for the benchmarks that time
the whole request path in-process (`search_latency.py`, `stats_latency.py`)."""

from __future__ import annotations

import os
import secrets
import tempfile


def setup_django() -> None:
    """DEBUG off, as in production: its settings refuse guessable keys, so they are random per run
    unless given; no HTTPS redirect (in-process plain HTTP would be answered 301) and no API limit (the
    benchmark measures the read, not the limiter's 429s). Without DATABASE_URL, a throwaway SQLite."""
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tutoring.settings")
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("JWT_SIGNING_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
    os.environ["RATE_LIMIT_API"] = "1000000/m"
    import django

    django.setup()

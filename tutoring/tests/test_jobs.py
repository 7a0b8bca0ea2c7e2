"""The background jobs on their real engine (docs/operations.md "Jobs"): Celery's schedule is declared in
code, and a real worker process runs a job from the broker against the database."""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tutoring.celery import app
from tutoring.models import Booking, BookingStatus
from tutoring.tests.factories import BookingFactory

ROOT = Path(__file__).resolve().parents[2]


def test_the_schedule_is_declared_in_code_and_names_registered_tasks():
    app.loader.import_default_modules()
    schedule = {entry["task"]: entry["schedule"] for entry in app.conf.beat_schedule.values()}
    assert set(schedule) == {
        "tutoring.tasks.expire_unpaid_bookings",
        "payments.tasks.release_due_earnings",
        "tutoring.tasks.mark_missed_classes",
        "notifications.tasks.queue_reminders",
        "notifications.tasks.send_notifications",
    }
    assert all(name in app.tasks for name in schedule)
    assert schedule["tutoring.tasks.expire_unpaid_bookings"] <= 60  # an unpaid slot frees within a minute


def test_production_uses_the_redis_broker():
    env = {**os.environ, "REDIS_URL": "redis://redis.internal:6379/0"}
    env.pop("CELERY_BROKER_URL", None)
    code = "import django; django.setup(); from django.conf import settings; print(settings.CELERY_BROKER_URL)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "redis://redis.internal:6379/0"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_expiry_job_from_the_broker(database_url, tmp_path):
    stale = BookingFactory(created_at=timezone.now() - timedelta(hours=1))
    fresh = BookingFactory()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_DIR": str(tmp_path),
    }
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tutoring", "worker", "--pool=solo", "-l", "info"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        send = "import django; django.setup(); from tutoring.tasks import expire_unpaid_bookings as t; t.delay()"
        subprocess.run([sys.executable, "-c", send], cwd=ROOT, env=env, check=True, timeout=60)
        deadline = time.monotonic() + 60
        while Booking.objects.get(pk=stale.pk).status != BookingStatus.EXPIRED:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()
    assert Booking.objects.get(pk=fresh.pk).status == BookingStatus.PENDING_PAYMENT
    assert "expire_unpaid_bookings" in (tmp_path / "worker.log").read_text()

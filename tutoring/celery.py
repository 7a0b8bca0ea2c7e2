"""The background jobs' engine: Celery, configured from Django's settings (the CELERY_* names).

Production runs a worker and a beat (Procfile `worker`, `beat`) on the Redis broker; the embedded
default (`make run`) runs one worker with its beat on a filesystem broker. The schedule is here, in
code. Every task is a thin caller of a service that locks each row it changes and checks its condition
again under the lock, so a task may run twice, late, or beside another run of itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tutoring.settings")

app = Celery("tutoring")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

MINUTE = 60.0
app.conf.beat_schedule = {
    "expire-unpaid-bookings": {"task": "tutoring.tasks.expire_unpaid_bookings", "schedule": MINUTE},
    "release-due-earnings": {"task": "payments.tasks.release_due_earnings", "schedule": 5 * MINUTE},
    "mark-missed-classes": {"task": "tutoring.tasks.mark_missed_classes", "schedule": 15 * MINUTE},
    # The outbox: reminders are queued as their moment comes; the sweep sends whatever a kick after
    # commit did not (the broker was down, a send failed and is due again).
    "queue-reminders": {"task": "notifications.tasks.queue_reminders", "schedule": MINUTE},
    "send-notifications": {"task": "notifications.tasks.send_notifications", "schedule": MINUTE},
}


@app.on_after_configure.connect
def _broker_folders(sender: Celery, **kwargs) -> None:
    """The filesystem broker (the embedded default) wants its folders before the first message, on the
    sending side (beat) as on the receiving side (the worker)."""
    for folder in (sender.conf.broker_transport_options or {}).values():
        Path(folder).mkdir(parents=True, exist_ok=True)

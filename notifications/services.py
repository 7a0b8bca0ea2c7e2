"""The email outbox: queue an email in the event's transaction, send what is due (docs/notifications.md).

Services of every app call `notify`/`notify_booking` inside the transaction that makes the event
happen, so the email exists exactly when the event does. After the commit the sender task is kicked;
if the broker is down the row waits for the sweep that runs every minute. Sending locks each row
(`SKIP LOCKED` on PostgreSQL, so any number of workers share the work), sends and marks it sent in
that transaction: each email goes out once, however often or concurrently the sender runs. (If the
database commit failed after the mail server took the email it could go out again; it is never lost.)
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef

from notifications.emails import render
from notifications.models import Notification, NotificationKind, NotificationStatus
from tutoring.models import Booking, BookingStatus, User

logger = logging.getLogger(__name__)

# How soon a failed send is tried again (doubling from a minute, at most an hour), and when to give up.
MAX_ATTEMPTS = 10
REMINDERS = (
    # (kind, how long before the class; a reminder is not sent later than the next one is due)
    (NotificationKind.REMINDER_24H, timedelta(hours=24)),
    (NotificationKind.REMINDER_15M, timedelta(minutes=15)),
)


def _kick() -> None:
    """Ask a worker to send now. Best effort: if the broker is down this fails at once (the request that
    made the event does not wait for it) and the sweep sends the email within a minute."""
    from notifications.tasks import send_notifications
    from tutoring.celery import app

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=0)
        send_notifications.apply_async(retry=False, connection=connection)


def notify(
    *,
    kind: str,
    recipients: Iterable[User],
    subject_id: Any,
    booking: Booking | None = None,
    data: dict | None = None,
) -> None:
    """Queue the email `kind` about the object `subject_id` to each recipient, once.

    Call it inside the transaction of the event: the rows commit with it (or not at all). Queuing the
    same email again does nothing.
    """
    rows = [
        Notification(
            key=f"{kind}:{subject_id}:{user.pk}",
            kind=kind,
            user=user,
            booking=booking,
            data=data or {},
        )
        for user in recipients
    ]
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    transaction.on_commit(_kick, robust=True)


def notify_booking(*, kind: str, booking: Booking, student: bool = True, tutor: bool = False) -> None:
    recipients = [user for user, wanted in ((booking.student, student), (booking.tutor, tutor)) if wanted]
    notify(kind=kind, recipients=recipients, subject_id=booking.pk, booking=booking)


def password_reset_queue(*, email: str) -> None:
    """Queue a password reset email to `email`, whoever it belongs to: the request costs the same whether
    or not an account has that address (the sender finds out, and sends nothing if none has)."""
    Notification.objects.create(
        key=f"{NotificationKind.PASSWORD_RESET}:{uuid.uuid4()}", kind=NotificationKind.PASSWORD_RESET, email=email
    )
    transaction.on_commit(_kick, robust=True)


def reminders_queue_due(*, now: datetime, limit: int = 1000) -> int:
    """Queue the reminders of paid classes starting soon, to both parties. Returns how many were queued.

    A day before, for classes booked at least a day ahead (otherwise the booking email was the notice),
    and 15 minutes before. A reminder whose moment passed while the job was not running is not sent
    once the next one is due.
    """
    queued = 0
    for i, (kind, lead) in enumerate(REMINDERS):
        until = REMINDERS[i + 1][1] if i + 1 < len(REMINDERS) else timedelta(0)
        due = (
            Booking.objects.filter(status=BookingStatus.PAID, start_time__gt=now + until, start_time__lte=now + lead)
            .filter(created_at__lte=F("start_time") - lead)
            .exclude(Exists(Notification.objects.filter(booking=OuterRef("pk"), kind=kind)))
            .select_related("student", "tutor")
        )
        for booking in due[:limit]:
            with transaction.atomic():
                notify_booking(kind=kind, booking=booking, student=True, tutor=True)
            queued += 1
    return queued


def _due(now: datetime):
    qs = Notification.objects.filter(status=NotificationStatus.PENDING, next_attempt_at__lte=now)
    if connection.features.has_select_for_update_skip_locked:
        qs = qs.select_for_update(skip_locked=True, of=("self",))
    return qs.order_by("next_attempt_at", "pk")


def notifications_send_due(*, now: datetime, limit: int = 200) -> int:
    """Send up to `limit` due emails; returns how many were sent.

    One transaction per email: the row is locked (rows other senders hold are skipped), rendered in
    the recipient's language, sent, and marked sent, skipped (nothing to send: a reset for an address
    with no account) or, after a failure, tried again later and finally failed.
    """
    sent = 0
    for _ in range(limit):
        with transaction.atomic():
            row = _due(now).select_related("user").first()
            if row is None:
                break
            sent += _send(row, now)
    return sent


def _send(row: Notification, now: datetime) -> int:
    row.attempts += 1
    try:
        message = render(row)
        if message is not None:
            message.send()
    except Exception as exc:  # a mail server's or a template's failure: try again later, then give up
        logger.warning("notification %s (%s) failed: %s", row.pk, row.kind, exc)
        row.last_error = f"{type(exc).__name__}: {exc}"[:500]
        if row.attempts >= MAX_ATTEMPTS:
            row.status = NotificationStatus.FAILED
        row.next_attempt_at = now + min(timedelta(minutes=2 ** (row.attempts - 1)), timedelta(hours=1))
        row.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
        return 0
    row.status = NotificationStatus.SENT if message is not None else NotificationStatus.SKIPPED
    row.sent_at = now
    row.save(update_fields=["attempts", "status", "sent_at", "last_error"])
    return int(message is not None)

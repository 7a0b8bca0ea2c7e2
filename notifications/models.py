"""The email outbox (docs/notifications.md): one row per email to send, written in the transaction of the
event it announces, so an email is neither lost (the broker may be down: the row waits for the sweep)
nor sent twice (one row per kind, object and recipient; the sender marks it sent under its row lock)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class NotificationKind(models.TextChoices):
    BOOKING_PAID = "booking_paid", "Booking paid"
    REMINDER_24H = "reminder_24h", "Reminder, a day before"
    REMINDER_15M = "reminder_15m", "Reminder, 15 minutes before"
    CLASS_ENDED = "class_ended", "Class ended"
    REFUND_DECIDED = "refund_decided", "Refund decided"
    WITHDRAWAL_DECIDED = "withdrawal_decided", "Withdrawal decided"
    BOOKING_EXPIRED = "booking_expired", "Booking expired"
    BOOKING_MISSED = "booking_missed", "Booking missed"
    PASSWORD_RESET = "password_reset", "Password reset"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    SKIPPED = "skipped", "Skipped (nothing to send)"
    FAILED = "failed", "Failed (gave up)"


class Notification(models.Model):
    # "<kind>:<object id>:<recipient id>": the same email can be queued any number of times, and exists once.
    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    # The recipient; none for a password reset, whose address is resolved when it is sent (`email`).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    email = models.EmailField(blank=True)
    booking = models.ForeignKey("tutoring.Booking", null=True, blank=True, on_delete=models.CASCADE)
    # What the event was, as it was then (a decision, an amount), for the email's text.
    data = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The sender's scan: what is pending and due, oldest first.
            models.Index(
                fields=["next_attempt_at"], condition=Q(status=NotificationStatus.PENDING), name="notification_due"
            ),
            models.Index(fields=["booking", "kind"], name="notification_booking_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.user_id or self.email} ({self.status})"

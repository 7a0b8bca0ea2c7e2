"""Jobs of the outbox (tutoring.celery): thin callers of `notifications.services`."""

from celery import shared_task
from django.utils import timezone

from notifications import services


@shared_task
def send_notifications() -> int:
    return services.notifications_send_due(now=timezone.now())


@shared_task
def queue_reminders() -> int:
    return services.reminders_queue_due(now=timezone.now())

"""Scheduled jobs of bookings (tutoring.celery): thin callers of `tutoring.services`."""

from celery import shared_task
from django.utils import timezone

from tutoring import services


@shared_task
def expire_unpaid_bookings() -> int:
    return services.bookings_expire_due(now=timezone.now())


@shared_task
def mark_missed_classes() -> int:
    return services.bookings_mark_missed_due(now=timezone.now())

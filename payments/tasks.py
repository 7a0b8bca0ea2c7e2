"""Scheduled jobs of payments (tutoring.celery): thin callers of `payments.services`."""

from celery import shared_task
from django.utils import timezone

from payments import services


@shared_task
def release_due_earnings() -> int:
    return services.earnings_release_due(now=timezone.now())

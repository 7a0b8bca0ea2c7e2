"""Bookings in payment states, reached through the real services and the sandbox's signed webhooks."""

from __future__ import annotations

from payments import services
from payments.models import Payment
from payments.stripe.sandbox import deliver, payment_intent_snapshot
from tutoring.models import Booking
from tutoring.tests.factories import BookingFactory


def intent_for(booking: Booking) -> Payment:
    return services.payment_intent_create(booking_id=booking.pk, user=booking.student)


def paid_booking(**kwargs) -> Booking:
    """A booking paid the way production pays it: intent, then a signed `payment_intent.succeeded`."""
    booking = BookingFactory(**kwargs)
    payment = intent_for(booking)
    deliver("payment_intent.succeeded", payment_intent_snapshot(payment, status="succeeded"))
    booking.refresh_from_db()
    assert booking.status == "paid"
    return booking

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import LedgerEntry, Payment
from payments.tests.factories import paid_booking
from tutoring.models import BookingStatus
from tutoring.tests.factories import BookingFactory, StudentFactory, TutorFactory
from tutoring.tests.utils import assert_error, data

pytestmark = pytest.mark.django_db

INTENTS = "/api/payments/intents"
CONFIRM = "/api/payments/sandbox/confirm"


def test_one_intent_per_booking(client_for):
    booking = BookingFactory()
    client = client_for(booking.student)
    first = data(client.post(INTENTS, {"bookingId": str(booking.pk)}))
    assert set(first) == {"clientSecret", "paymentIntentId"}
    assert re.fullmatch(r"pi_[A-Za-z0-9]{24}", first["paymentIntentId"])
    assert re.fullmatch(rf"{first['paymentIntentId']}_secret_[A-Za-z0-9]+", first["clientSecret"])
    again = data(client.post(INTENTS, {"bookingId": str(booking.pk)}))
    assert again == first
    payment = Payment.objects.get()
    assert (payment.amount, payment.currency, payment.booking_id) == (booking.price, "usd", booking.pk)


def test_who_may_ask(client_for, staff):
    booking = BookingFactory()
    body = {"bookingId": str(booking.pk)}
    assert_error(client_for(booking.tutor).post(INTENTS, body), 403, INTENTS, "POST")
    assert_error(client_for(staff).post(INTENTS, body), 403)
    assert_error(client_for(StudentFactory()).post(INTENTS, body), 404)
    assert_error(client_for(booking.student).post(INTENTS, {"bookingId": "0" * 32}), 404)
    assert "bookingId" in assert_error(client_for(booking.student).post(INTENTS, {"bookingId": "x"}), 400)["errors"]
    assert not Payment.objects.exists()


@pytest.mark.parametrize("status", [BookingStatus.CANCELLED, BookingStatus.PAID, BookingStatus.COMPLETED])
def test_only_pending_bookings(client_for, status):
    booking = BookingFactory(status=status)
    assert_error(client_for(booking.student).post(INTENTS, {"bookingId": str(booking.pk)}), 409)


def test_sandbox_confirm_pays_through_the_webhook(client_for):
    booking = BookingFactory()
    client = client_for(booking.student)
    intent = data(client.post(INTENTS, {"bookingId": str(booking.pk)}))
    assert_error(client_for(StudentFactory()).post(CONFIRM, {"paymentIntentId": intent["paymentIntentId"]}), 404)
    body = data(client.post(CONFIRM, {"paymentIntentId": intent["paymentIntentId"]}))
    assert body == {
        "paymentIntentId": intent["paymentIntentId"],
        "status": "succeeded",
        "bookingId": str(booking.pk),
        "bookingStatus": "paid",
    }
    assert LedgerEntry.objects.filter(booking=booking).count() == 2
    assert_error(client.post(CONFIRM, {"paymentIntentId": intent["paymentIntentId"]}), 409)
    assert_error(client.post(INTENTS, {"bookingId": str(booking.pk)}), 409)


def test_declined_card_records_the_failure_and_can_be_retried(client_for):
    booking = BookingFactory()
    client = client_for(booking.student)
    intent = data(client.post(INTENTS, {"bookingId": str(booking.pk)}))
    body = data(client.post(CONFIRM, {"paymentIntentId": intent["paymentIntentId"], "outcome": "failed"}))
    assert (body["status"], body["bookingStatus"]) == ("failed", "pending_payment")
    payment = Payment.objects.get()
    assert payment.failure_code == "generic_decline" and "declined" in payment.failure_message
    assert not LedgerEntry.objects.exists()
    assert data(client.post(INTENTS, {"bookingId": str(booking.pk)}))["clientSecret"] == intent["clientSecret"]
    assert data(client.post(CONFIRM, {"paymentIntentId": intent["paymentIntentId"]}))["bookingStatus"] == "paid"


def test_cancelling_a_booking_cancels_its_intent(client_for):
    booking = BookingFactory()
    client = client_for(booking.student)
    intent = data(client.post(INTENTS, {"bookingId": str(booking.pk)}))
    assert data(client.post(f"/api/bookings/{booking.pk}/cancel"))["status"] == "cancelled"
    assert Payment.objects.get().status == "canceled"
    assert_error(client.post(CONFIRM, {"paymentIntentId": intent["paymentIntentId"]}), 409)


def test_a_paid_booking_within_a_day_cannot_be_cancelled_by_the_student(client_for):
    booking = paid_booking(start_time=timezone.now() + timedelta(hours=23))
    assert_error(client_for(booking.student).post(f"/api/bookings/{booking.pk}/cancel"), 409)


def test_payment_requests_share_a_20_per_minute_budget(client_for):
    student = StudentFactory()
    tutor = TutorFactory()
    client = client_for(student)
    bookings = [BookingFactory(student=student, tutor=tutor) for _ in range(11)]
    for booking in bookings[:10]:
        assert client.post(INTENTS, {"bookingId": str(booking.pk)}).status_code == 200
    for booking in bookings[:10]:
        # Refund requests count in the same group (these are 409: the bookings are not paid).
        assert client.post("/api/payments/refunds", {"bookingId": str(booking.pk), "reason": "x"}).status_code == 409
    response = client.post(INTENTS, {"bookingId": str(bookings[10].pk)})
    assert_error(response, 429, INTENTS, "POST")
    assert int(response["Retry-After"]) >= 1
    assert not Payment.objects.filter(booking=bookings[10]).exists()

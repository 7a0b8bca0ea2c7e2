"""The refund life cycle end to end through the sandbox, the staff decisions, and the ledger after it."""

import time

import pytest

from payments.models import Refund, RefundStatus, WebhookEvent
from payments.selectors import tutor_earnings
from payments.stripe.sandbox import deliver, signed_event
from payments.tests.factories import paid_booking
from payments.webhooks import webhook_receive
from tutoring.models import BookingStatus
from tutoring.services import booking_complete
from tutoring.tests.factories import BookingFactory, StudentFactory
from tutoring.tests.utils import assert_error, data

pytestmark = pytest.mark.django_db

REFUNDS = "/api/payments/refunds"


def request_refund(client_for, booking, reason="The tutor did not show up."):
    return client_for(booking.student).post(REFUNDS, {"bookingId": str(booking.pk), "reason": reason})


def earnings(booking):
    e = tutor_earnings(tutor_id=booking.tutor_id)
    return e.total_earnings, e.pending_earnings, e.payments_count


class TestRequest:
    def test_student_requests_full_price(self, client_for):
        booking = paid_booking()
        refund = data(request_refund(client_for, booking), 201)
        assert refund["status"] == "pending" and refund["amount"] == 6000
        assert set(refund) == {"id", "bookingId", "status", "amount", "reason", "createdAt", "decidedAt"}
        assert refund["bookingId"] == str(booking.pk) and refund["decidedAt"] is None
        assert_error(request_refund(client_for, booking), 409, REFUNDS, "POST")
        assert Refund.objects.count() == 1

    def test_who_and_when(self, client_for, staff):
        booking = paid_booking()
        body = {"bookingId": str(booking.pk), "reason": "x"}
        assert_error(client_for(booking.tutor).post(REFUNDS, body), 403)
        assert_error(client_for(staff).post(REFUNDS, body), 403)
        assert_error(client_for(StudentFactory()).post(REFUNDS, body), 404)
        unpaid = BookingFactory()
        assert_error(request_refund(client_for, unpaid), 409)
        assert not Refund.objects.exists()

    @pytest.mark.parametrize("reason", ["", "   ", "x" * 1001])
    def test_reason_length(self, client_for, reason):
        booking = paid_booking()
        assert "reason" in assert_error(request_refund(client_for, booking, reason), 400)["errors"]

    def test_detail_visibility(self, client_for, staff):
        booking = paid_booking()
        refund = data(request_refund(client_for, booking), 201)
        url = f"{REFUNDS}/{refund['id']}"
        for user in (booking.student, booking.tutor, staff):
            assert data(client_for(user).get(url)) == refund
        assert_error(client_for(StudentFactory()).get(url), 404, url, "GET")


class TestDecisions:
    def test_approve_partial_then_webhook_settles(self, client_for, staff, django_capture_on_commit_callbacks):
        booking = paid_booking()
        refund = data(request_refund(client_for, booking), 201)
        with django_capture_on_commit_callbacks(execute=True):
            approved = data(
                client_for(staff).post(f"{REFUNDS}/{refund['id']}/approve", {"amount": 2000, "note": "half"})
            )
        # Stripe (sandbox) answered `pending`; its refund.updated event then settled it.
        assert approved["status"] == "approved" and approved["amount"] == 2000 and approved["decidedAt"]
        stored = Refund.objects.get()
        assert stored.status == RefundStatus.SUCCEEDED
        assert (stored.decided_by, stored.decision_note) == (staff, "half")
        assert stored.provider_id.startswith("re_")
        assert WebhookEvent.objects.filter(type="refund.updated", object_id=stored.provider_id).count() == 1
        booking.refresh_from_db()
        assert booking.status == BookingStatus.REFUNDED
        # Before the class: the 5100 pending share leaves; 5100 − share(2000)=1700 → 3400 earned.
        assert earnings(booking) == (3400, 0, 1)
        assert data(client_for(booking.student).get(f"{REFUNDS}/{refund['id']}"))["status"] == "succeeded"

    def test_full_refund_after_the_class(self, client_for, staff, django_capture_on_commit_callbacks):
        booking = paid_booking()
        booking_complete(booking_id=booking.pk)
        assert earnings(booking) == (0, 5100, 1)  # held: pending until the hold is over
        refund = data(request_refund(client_for, booking), 201)
        with django_capture_on_commit_callbacks(execute=True):
            data(client_for(staff).post(f"{REFUNDS}/{refund['id']}/approve", {}))
        assert Refund.objects.get().status == RefundStatus.SUCCEEDED
        assert earnings(booking) == (0, 0, 1)  # a refund does not uncount the payment
        assert_error(request_refund(client_for, booking), 409)

    def test_second_decision_is_409(self, client_for, staff, django_capture_on_commit_callbacks):
        booking = paid_booking()
        refund = data(request_refund(client_for, booking), 201)
        url = f"{REFUNDS}/{refund['id']}"
        rejected = data(client_for(staff).post(f"{url}/reject", {"note": "Class was held."}))
        assert rejected["status"] == "rejected" and rejected["decidedAt"]
        assert_error(client_for(staff).post(f"{url}/approve", {}), 409, f"{url}/approve", "POST")
        assert_error(client_for(staff).post(f"{url}/reject", {"note": "again"}), 409)
        booking.refresh_from_db()
        assert booking.status == BookingStatus.PAID
        assert earnings(booking) == (0, 5100, 1)
        # A rejected request leaves room for a new one.
        assert data(request_refund(client_for, booking), 201)["status"] == "pending"

    def test_decision_rules(self, client_for, staff):
        booking = paid_booking()
        refund = data(request_refund(client_for, booking), 201)
        url = f"{REFUNDS}/{refund['id']}"
        assert_error(client_for(booking.student).post(f"{url}/approve", {}), 403)
        assert_error(client_for(booking.tutor).post(f"{url}/reject", {"note": "no"}), 403)
        assert "note" in assert_error(client_for(staff).post(f"{url}/reject", {}), 400)["errors"]
        assert "note" in assert_error(client_for(staff).post(f"{url}/reject", {"note": "  "}), 400)["errors"]
        assert "amount" in assert_error(client_for(staff).post(f"{url}/approve", {"amount": 6001}), 400)["errors"]
        assert "amount" in assert_error(client_for(staff).post(f"{url}/approve", {"amount": 0}), 400)["errors"]
        assert_error(client_for(staff).post(f"{REFUNDS}/00000000-0000-0000-0000-000000000000/approve", {}), 404)
        assert Refund.objects.get().status == RefundStatus.PENDING

    def test_refund_events_out_of_order(self, client_for, staff):
        booking = paid_booking()
        refund = data(request_refund(client_for, booking), 201)
        data(client_for(staff).post(f"{REFUNDS}/{refund['id']}/approve", {}))  # events not delivered here
        stored = Refund.objects.get()
        assert stored.status == RefundStatus.APPROVED
        now = int(time.time())
        snapshot = {
            "id": stored.provider_id,
            "object": "refund",
            "amount": 6000,
            "currency": "usd",
            "metadata": {"refund_id": str(stored.pk)},
        }

        def send(status, created, **extra):
            payload, signature = signed_event(
                "refund.updated", {**snapshot, "status": status, **extra}, created=created
            )
            return webhook_receive(payload=payload, signature=signature)[1]

        assert send("pending", now - 5) == "refund approved"
        assert send("failed", now - 50, failure_reason="lost_or_stolen_card") == "ignored: older snapshot"
        assert Refund.objects.get().status == RefundStatus.APPROVED
        assert send("succeeded", now) == "refund succeeded"
        assert send("failed", now + 5) == "ignored: refund already succeeded"
        assert Refund.objects.get().status == RefundStatus.SUCCEEDED
        assert earnings(booking) == (0, 0, 1)

    def test_failed_refund_changes_no_money(self, client_for, staff):
        booking = paid_booking()
        refund = data(request_refund(client_for, booking), 201)
        data(client_for(staff).post(f"{REFUNDS}/{refund['id']}/approve", {}))
        stored = Refund.objects.get()
        deliver(
            "refund.failed",
            {
                "id": stored.provider_id,
                "object": "refund",
                "status": "failed",
                "failure_reason": "expired_or_canceled_card",
                "metadata": {},
            },
        )
        stored.refresh_from_db()
        assert (stored.status, stored.failure_reason) == (RefundStatus.FAILED, "expired_or_canceled_card")
        booking.refresh_from_db()
        assert booking.status == BookingStatus.PAID
        assert earnings(booking) == (0, 5100, 1)

    def test_charge_refunded_with_refund_list(self, client_for, staff):
        booking = paid_booking()
        refund = data(request_refund(client_for, booking), 201)
        data(client_for(staff).post(f"{REFUNDS}/{refund['id']}/approve", {}))
        stored = Refund.objects.get()
        charge = {
            "id": "ch_1",
            "object": "charge",
            "refunds": {
                "data": [{"id": stored.provider_id, "object": "refund", "status": "succeeded", "amount": 6000}]
            },
        }
        deliver("charge.refunded", charge)
        assert Refund.objects.get().status == RefundStatus.SUCCEEDED

    def test_charge_refunded_with_an_unknown_refund_still_settles_ours(self, client_for, staff):
        booking = paid_booking()
        refund = data(request_refund(client_for, booking), 201)
        data(client_for(staff).post(f"{REFUNDS}/{refund['id']}/approve", {}))
        stored = Refund.objects.get()
        refunds = [
            {"id": "re_not_ours", "object": "refund", "status": "succeeded", "amount": 100},
            {"id": stored.provider_id, "object": "refund", "status": "succeeded", "amount": 6000},
        ]
        payload, signature = signed_event(
            "charge.refunded", {"id": "ch_1", "object": "charge", "refunds": {"data": refunds}}
        )
        outcome = webhook_receive(payload=payload, signature=signature)[1]
        assert outcome == "ignored: unknown refund; refund succeeded"
        assert Refund.objects.get().status == RefundStatus.SUCCEEDED


class TestAdminQueue:
    def test_queue_opens_on_pending(self, client, staff):
        client.force_login(staff)
        response = client.get("/admin/payments/refund/")
        assert response.status_code == 302 and response["Location"].endswith("?status__exact=pending")

    def test_approve_and_reject_actions_call_the_same_service(
        self, client, client_for, staff, django_capture_on_commit_callbacks
    ):
        a, b = paid_booking(), paid_booking()
        ra = data(request_refund(client_for, a), 201)["id"]
        rb = data(request_refund(client_for, b), 201)["id"]
        client.force_login(staff)
        url = "/admin/payments/refund/?status__exact=pending"
        page = client.post(url, {"action": "approve_refunds", "_selected_action": [ra]})
        assert page.status_code == 200 and b"Approve selected refunds" in page.content
        with django_capture_on_commit_callbacks(execute=True):
            done = client.post(
                url,
                {"action": "approve_refunds", "_selected_action": [ra], "apply": "1", "note": "ok", "amount": "1000"},
            )
        assert done.status_code == 302
        refund = Refund.objects.get(pk=ra)
        assert (refund.status, refund.amount, refund.decision_note, refund.decided_by) == (
            "succeeded",
            1000,
            "ok",
            staff,
        )
        # Reject needs a note: without one the form comes back and nothing changes.
        again = client.post(url, {"action": "reject_refunds", "_selected_action": [rb], "apply": "1", "note": ""})
        assert again.status_code == 200 and b"A note is required" in again.content
        assert Refund.objects.get(pk=rb).status == "pending"
        client.post(url, {"action": "reject_refunds", "_selected_action": [rb], "apply": "1", "note": "no"})
        assert Refund.objects.get(pk=rb).status == "rejected"
        # Deciding twice from the admin is refused by the service and reported.
        twice = client.post(
            "/admin/payments/refund/?status__exact=rejected",
            {"action": "reject_refunds", "_selected_action": [rb], "apply": "1", "note": "again"},
            follow=True,
        )
        assert b"already decided" in twice.content
        assert Refund.objects.get(pk=rb).decision_note == "no"

    def test_money_fields_are_read_only(self, client, client_for, staff):
        booking = paid_booking()
        refund = data(request_refund(client_for, booking), 201)
        client.force_login(staff)
        page = client.get(f"/admin/payments/refund/{refund['id']}/change/").content.decode()
        assert 'name="amount"' not in page and 'name="status"' not in page and 'name="provider_id"' not in page

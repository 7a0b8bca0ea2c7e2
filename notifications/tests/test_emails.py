"""The emails of docs/notifications.md, read from a real SMTP server: each event's email to its people,
once however often (or however concurrently) the sender runs, in the recipient's language, the booking's
with its class as an `.ics` event."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import icalendar
import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from notifications import services
from notifications.models import Notification, NotificationKind, NotificationStatus
from notifications.tests.smtp import body_of
from payments import services as payments
from payments.tests.factories import paid_booking
from tutoring import services as bookings
from tutoring.models import BookingStatus
from tutoring.tests.factories import BookingFactory, StaffFactory, StudentFactory, TutorFactory
from tutoring.tests.servers import free_port
from tutoring.tests.utils import data, run_concurrently
from withdrawals import services as withdrawals
from withdrawals.tests.factories import tutor_with_balance

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def send() -> int:
    """The sender job, as a worker runs it."""
    return services.notifications_send_due(now=timezone.now())


def queued_directly(booking) -> None:
    """The booking email's rows, as `notify` writes them but without its kick after the commit."""
    Notification.objects.bulk_create(
        Notification(key=f"booking_paid:{booking.pk}:{user.pk}", kind="booking_paid", user=user, booking=booking)
        for user in (booking.student, booking.tutor)
    )


def only(inbox, user):
    [message] = inbox.to(user.email)
    return message


class TestBookingPaid:
    def test_both_parties_once_with_the_class_as_a_calendar_event(self, smtp):
        booking = paid_booking(subject="Algebra")
        assert send() == 2
        assert send() == 0
        assert len(smtp.messages) == 2
        uids = set()
        for user, other in ((booking.student, booking.tutor), (booking.tutor, booking.student)):
            message = only(smtp, user)
            assert message["From"] == settings.DEFAULT_FROM_EMAIL == "no-reply@127.0.0.1"
            assert message["Subject"] == f"Booked: your class with {other.name}"
            body = body_of(message)
            assert f"http://127.0.0.1:8000/bookings/{booking.pk}" in body
            assert "60.00 USD" in body and "Algebra" in body
            [attachment] = message.iter_attachments()
            assert attachment.get_content_type() == "text/calendar"
            assert attachment.get_filename() == "class.ics"
            calendar = icalendar.Calendar.from_ical(attachment.get_content())
            assert str(calendar["method"]) == "PUBLISH"
            [event] = calendar.walk("VEVENT")
            # Calendars count in whole seconds.
            assert event.decoded("dtstart") == booking.start_time.replace(microsecond=0)
            assert event.decoded("dtend") == booking.end_time.replace(microsecond=0)
            assert str(event["summary"]) == f"Class with {other.name}: Algebra"
            uids.add(str(event["uid"]))
        assert uids == {f"booking-{booking.pk}@127.0.0.1"}
        assert set(Notification.objects.values_list("status", flat=True)) == {NotificationStatus.SENT}

    def test_in_each_recipients_language(self, smtp):
        student = StudentFactory(language="zh-hans", name="王芳")
        booking = paid_booking(student=student, tutor=TutorFactory(name="Clara O'Brien"))
        send()
        chinese, english = only(smtp, student), only(smtp, booking.tutor)
        assert chinese["Subject"] == "已预订：您与 Clara O'Brien 的课程"
        assert "王芳，您好" in body_of(chinese) and "60 分钟" in body_of(chinese)
        # Dates as Chinese readers write them (the year of the class, whichever year it falls in).
        assert f"{timezone.localtime(booking.start_time).year}年" in body_of(chinese)
        assert english["Subject"] == "Booked: your class with 王芳"
        assert "Hello Clara O'Brien," in body_of(english)  # plain text: nothing HTML-escaped
        [event] = icalendar.Calendar.from_ical(next(chinese.iter_attachments()).get_content()).walk("VEVENT")
        assert str(event["summary"]) == "与 Clara O'Brien 的课程：Mathematics"

    @pytest.mark.django_db(transaction=True)
    def test_sent_as_the_payment_commits_without_waiting_for_the_sweep(self, smtp, client_for):
        booking = BookingFactory()
        client = client_for(booking.student)
        intent = data(client.post("/api/payments/intents", {"bookingId": str(booking.pk)}))
        data(client.post("/api/payments/sandbox/confirm", {"paymentIntentId": intent["paymentIntentId"]}))
        # The kick after the commit ran the sender (tests run tasks in-process, as a worker would).
        assert len(smtp.messages) == 2
        assert send() == 0

    @pytest.mark.django_db(transaction=True)
    def test_a_broker_that_is_down_loses_nothing(self, smtp, client_for, broker_down):
        booking = BookingFactory()
        client = client_for(booking.student)
        intent = data(client.post("/api/payments/intents", {"bookingId": str(booking.pk)}))
        data(client.post("/api/payments/sandbox/confirm", {"paymentIntentId": intent["paymentIntentId"]}))
        assert smtp.messages == []
        assert Notification.objects.filter(status=NotificationStatus.PENDING).count() == 2
        assert send() == 2  # the sweep on the beat schedule
        assert {m["X-Envelope-To"] for m in smtp.messages} == {booking.student.email, booking.tutor.email}


@pytest.fixture
def broker_down():
    """Tasks go to a broker nobody listens on (a Redis URL on a closed port), as when Redis is down."""
    from tutoring.celery import app
    from tutoring.tests.servers import free_port

    saved = app.conf.broker_url
    app.conf.task_always_eager = False
    app.conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"
    try:
        yield
    finally:
        app.conf.broker_url = saved
        app.conf.task_always_eager = True
        app.pool.force_close_all()
        app._pool = None
        app.amqp._producer_pool = None


class TestOnce:
    def test_queuing_twice_is_one_email(self, smtp):
        booking = BookingFactory(status=BookingStatus.PAID)
        for _ in range(3):
            services.notify_booking(kind=NotificationKind.BOOKING_PAID, booking=booking, tutor=True)
        assert Notification.objects.count() == 2
        assert send() == 2 and send() == 0
        assert len(smtp.messages) == 2

    def test_a_failed_send_is_tried_again_later_then_given_up(self, settings):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # no mail server there
        booking = BookingFactory(status=BookingStatus.PAID)
        services.notify_booking(kind=NotificationKind.CLASS_ENDED, booking=booking)
        assert send() == 0
        row = Notification.objects.get()
        assert (row.status, row.attempts) == (NotificationStatus.PENDING, 1)
        assert row.next_attempt_at > timezone.now() and "Error" in row.last_error
        for day in range(1, services.MAX_ATTEMPTS):
            services.notifications_send_due(now=timezone.now() + timedelta(days=day))
        row.refresh_from_db()
        assert (row.status, row.attempts) == (NotificationStatus.FAILED, services.MAX_ATTEMPTS)
        services.notifications_send_due(now=timezone.now() + timedelta(days=30))
        assert Notification.objects.get().attempts == services.MAX_ATTEMPTS  # given up: never picked again


class TestEachEvent:
    def test_reminders_a_day_and_a_quarter_hour_before_once_each(self, smtp):
        start = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
        booking = BookingFactory(status=BookingStatus.PAID, start_time=start)
        booked_late = BookingFactory(status=BookingStatus.PAID, start_time=start + timedelta(hours=12))
        with time_machine.travel(start - timedelta(hours=23)):
            assert services.reminders_queue_due(now=timezone.now()) == 1
            assert services.reminders_queue_due(now=timezone.now()) == 0
            assert send() == 2
        assert {m["Subject"] for m in smtp.messages} == {
            f"Tomorrow: your class with {booking.tutor.name}",
            f"Tomorrow: your class with {booking.student.name}",
        }
        # Booked less than a day ahead: the booking email was the notice; only the quarter-hour reminder.
        booked_late.created_at = booked_late.start_time - timedelta(hours=3)
        booked_late.save()
        with time_machine.travel(start - timedelta(minutes=10)):
            assert services.reminders_queue_due(now=timezone.now()) == 1
            assert send() == 2
        with time_machine.travel(booked_late.start_time - timedelta(hours=20)):
            assert services.reminders_queue_due(now=timezone.now()) == 0
        with time_machine.travel(booked_late.start_time - timedelta(minutes=14)):
            assert services.reminders_queue_due(now=timezone.now()) == 1
            assert send() == 2
        with time_machine.travel(start + timedelta(days=1)):
            assert services.reminders_queue_due(now=timezone.now()) == 0
        kinds = Counter(Notification.objects.values_list("kind", flat=True))
        assert kinds == {NotificationKind.REMINDER_24H: 2, NotificationKind.REMINDER_15M: 4}
        assert len(smtp.messages) == 6
        assert sum("starts in 15 minutes" in body_of(m) for m in smtp.messages) == 4

    def test_a_day_ahead_reminder_not_sent_once_the_quarter_hour_one_is_due(self, smtp):
        start = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
        BookingFactory(status=BookingStatus.PAID, start_time=start)
        with time_machine.travel(start - timedelta(minutes=5)):  # the job was down all day
            assert services.reminders_queue_due(now=timezone.now()) == 1
        assert set(Notification.objects.values_list("kind", flat=True)) == {NotificationKind.REMINDER_15M}

    def test_class_ended_links_to_the_review(self, smtp):
        booking = BookingFactory(status=BookingStatus.PAID, start_time=timezone.now() - timedelta(hours=1))
        bookings.booking_complete(booking_id=booking.pk)
        bookings.booking_complete(booking_id=booking.pk)
        assert send() == 1
        message = only(smtp, booking.student)
        assert message["Subject"] == f"How was your class with {booking.tutor.name}?"
        assert f"/bookings/{booking.pk}#review" in body_of(message)

    def test_refund_decisions_reach_the_student(self, smtp):
        staff = StaffFactory()
        approved, rejected = paid_booking(), paid_booking()
        send()
        for booking in (approved, rejected):
            payments.refund_request(booking_id=booking.pk, user=booking.student, reason="ill")
        payments.refund_approve(refund_id=approved.refunds.get().pk, staff=staff, amount=2500, note="Get well")
        payments.refund_reject(refund_id=rejected.refunds.get().pk, staff=staff, note="Held as agreed")
        assert send() == 2
        yes = [m for m in smtp.to(approved.student.email) if "refund" in m["Subject"]]
        no = [m for m in smtp.to(rejected.student.email) if "refund" in m["Subject"]]
        assert "approved: 25.00 USD goes back" in body_of(yes[0]) and "Get well" in body_of(yes[0])
        assert "was declined" in body_of(no[0]) and "Held as agreed" in body_of(no[0])

    def test_a_cancellation_refund_is_a_decision_too(self, smtp):
        booking = paid_booking(start_time=timezone.now() + timedelta(days=3))
        bookings.booking_cancel(booking_id=booking.pk, user=booking.tutor)
        send()
        subjects = [m["Subject"] for m in smtp.to(booking.student.email)]
        assert "A decision on your refund" in subjects

    def test_withdrawal_decisions_reach_the_tutor(self, smtp):
        staff = StaffFactory()
        tutor = tutor_with_balance(language="zh-hans")
        paid = withdrawals.withdrawal_request(user=tutor, amount=5000)
        withdrawals.withdrawal_approve(withdrawal_id=paid.pk, staff=staff)
        declined = withdrawals.withdrawal_request(user=tutor, amount=1000)
        withdrawals.withdrawal_reject(withdrawal_id=declined.pk, staff=staff, note="Duplicate")
        send()
        decided = [body_of(m) for m in smtp.to(tutor.email) if m["Subject"] == "关于您提现的决定"]
        assert len(decided) == 2
        assert any("50.00 USD" in body and "已批准" in body for body in decided)
        assert any("10.00 USD" in body and "Duplicate" in body for body in decided)

    def test_expired_and_missed_reach_the_student(self, smtp):
        unpaid = BookingFactory(created_at=timezone.now() - timedelta(hours=1))
        bookings.bookings_expire_due(now=timezone.now())
        bookings.bookings_expire_due(now=timezone.now())
        held = timezone.now() - timedelta(hours=settings.EARNINGS_HOLD_HOURS + 3)
        missed = paid_booking(start_time=timezone.now() + timedelta(days=1))
        missed.start_time, missed.end_time = held, held + timedelta(hours=1)
        missed.save()
        send()
        bookings.bookings_mark_missed_due(now=timezone.now())
        send()
        assert only(smtp, unpaid.student)["Subject"] == f"Your booking with {unpaid.tutor.name} expired"
        subjects = [m["Subject"] for m in smtp.to(missed.student.email)]
        assert f"Your class with {missed.tutor.name} did not take place" in subjects
        missed_body = [body_of(m) for m in smtp.to(missed.student.email) if "did not take place" in m["Subject"]]
        assert "refund request of the full price (60.00 USD)" in missed_body[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
class TestConcurrentSenders:
    def test_senders_at_once_send_each_email_once(self, smtp):
        for _ in range(10):
            queued_directly(BookingFactory(status=BookingStatus.PAID))
        counts = run_concurrently(lambda i: send(), 4)
        assert sum(counts) == 20
        assert len(smtp.messages) == 20
        assert len({(m["X-Envelope-To"], m["Subject"]) for m in smtp.messages}) == 20
        assert Notification.objects.filter(status=NotificationStatus.SENT).count() == 20

    def test_a_real_worker_sends_from_the_broker_once(self, smtp_server, database_url, tmp_path):
        booking = BookingFactory(status=BookingStatus.PAID)
        queued_directly(booking)
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": "filesystem://",
            "CELERY_DIR": str(tmp_path),
            "EMAIL_URL": smtp_server.url,
        }
        log_path = tmp_path / "worker.log"
        with log_path.open("w") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "tutoring", "worker", "--pool=solo", "-l", "info"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                for run in (1, 2):
                    send_task = (
                        "import django; django.setup(); "
                        "from notifications.tasks import send_notifications as t; t.delay()"
                    )
                    subprocess.run([sys.executable, "-c", send_task], cwd=ROOT, env=env, check=True, timeout=60)
                    deadline = time.monotonic() + 60
                    while log_path.read_text().count("send_notifications") < 2 * run:  # received, succeeded
                        assert worker.poll() is None, log_path.read_text()
                        assert time.monotonic() < deadline, log_path.read_text()
                        time.sleep(0.2)
            finally:
                worker.terminate()
                worker.wait(30)
        assert sorted(m["X-Envelope-To"] for m in smtp_server.inbox.messages) == sorted(
            [booking.student.email, booking.tutor.email]
        )

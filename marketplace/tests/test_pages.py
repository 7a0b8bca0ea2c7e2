"""The marketplace's pages (docs/pages.md): search on the home page, free times and reviews on a tutor's
profile, the availability form, reviewing a class, the receipt, password reset and the remembered
language — each form reaching the service the API calls."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from marketplace.models import Review
from marketplace.selectors import availability_get
from notifications.services import notifications_send_due
from payments import services as payments
from payments.tests.factories import paid_booking
from tutoring.models import Booking, BookingStatus, TutorProfile, User
from tutoring.tests.factories import PASSWORD, BookingFactory, StaffFactory, StudentFactory, TutorFactory

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


HOURS_AGO = itertools.count(48, 2)


def held(**kwargs) -> Booking:
    """A class held in the past (each at its own hours, so one tutor's never overlap)."""
    start = timezone.now() - timedelta(hours=next(HOURS_AGO))
    return BookingFactory(
        start_time=start, end_time=start + timedelta(hours=1), status=BookingStatus.COMPLETED, **kwargs
    )


class TestSearch:
    def test_words_subject_and_order(self, client):
        cheap = TutorFactory(name="Ana Lima", profile__subjects=["Calculus"], profile__hourly_rate=2000)
        dear = TutorFactory(name="Bo Chen", profile__subjects=["Calculus"], profile__hourly_rate=9000)
        TutorFactory(name="Cy Dee", profile__subjects=["History"])
        TutorProfile.objects.filter(user=dear).update(rating="4.5", reviews_count=2)
        found = client.get("/", {"q": "calculus", "sort": "-price"})
        assert [t.user for t in found.context["tutors"]] == [dear, cheap]
        assert "4.5 · 2 reviews" in found.content.decode()
        assert [t.user for t in client.get("/", {"q": "calculus", "sort": "price"}).context["tutors"]] == [cheap, dear]
        assert client.get("/", {"q": "lima", "subject": "History"}).context["tutors"] == []

    def test_next_page_keeps_the_search(self, client):
        for _ in range(21):
            TutorFactory(profile__subjects=["Chess"])
        first = client.get("/", {"q": "chess", "sort": "rating"})
        link = f'href="?q=chess&amp;sort=rating&amp;cursor={first.context["next"]}"'
        assert link in first.content.decode()
        second = client.get("/", {"q": "chess", "sort": "rating", "cursor": first.context["next"]})
        assert len(second.context["tutors"]) == 1

    def test_a_bad_order_is_shown_not_a_crash(self, client):
        TutorFactory()
        response = client.get("/", {"sort": "cheapest"})
        assert response.status_code == 200 and response.context["search_errors"]["sort"]


class TestProfile:
    def test_free_times_for_the_chosen_length_and_booking_one(self, client):
        tutor = TutorFactory()
        assert (
            signed_in(tutor)
            .post(
                "/availability",
                {"timezone": "Europe/Berlin", **{f"day-{d}": "09:00-11:00" for d in range(7)}, "exceptions": ""},
            )
            .status_code
            == 302
        )
        student = StudentFactory()
        with time_machine.travel(datetime(2026, 3, 20, 6, tzinfo=UTC), tick=False):  # 07:00 in Berlin
            page = signed_in(student).get(f"/tutors/{tutor.pk}")
            hour = page.context["slots"]
            assert page.context["slot_minutes"] == 60
            # Two hours a day for 14 days: starts 09:00 … 10:00, five a day.
            assert len(hour) == 14 * 5
            assert hour[0].start_time == datetime(2026, 3, 20, 8, tzinfo=UTC)
            assert 'value="2026-03-20T08:00:00+00:00"' in page.content.decode()
            longer = signed_in(student).get(f"/tutors/{tutor.pk}", {"minutes": "120"}).context["slots"]
            assert len(longer) == 14 and longer[0].end_time - longer[0].start_time == timedelta(hours=2)
            booked = signed_in(student).post(
                f"/tutors/{tutor.pk}", {"startTime": "2026-03-21T08:15:00+00:00", "durationMinutes": "60"}
            )
            assert booked.status_code == 302
            after = signed_in(student).get(f"/tutors/{tutor.pk}").context["slots"]
            assert len(after) == 14 * 5 - 5  # that morning's five starts all overlap 08:15–09:15
            outside = signed_in(student).post(
                f"/tutors/{tutor.pk}", {"startTime": "2026-03-21T12:00:00+00:00", "durationMinutes": "60"}
            )
            assert outside.status_code == 400
            assert "outside the tutor's availability" in " ".join(messages_of(outside))

    def test_without_hours_no_free_times_and_reviews_with_the_average(self, client):
        tutor = TutorFactory()
        for rating, comment in ((5, "Brilliant <b>teacher</b>"), (4, "")):
            booking = held(tutor=tutor)
            signed_in(booking.student).post(f"/bookings/{booking.pk}/review", {"rating": rating, "comment": comment})
        page = client.get(f"/tutors/{tutor.pk}")
        assert page.context["has_hours"] is False
        assert [r.rating for r in page.context["reviews"]] == [4, 5]
        html = page.content.decode()
        assert "4.5 · 2 reviews" in html
        assert "Brilliant &lt;b&gt;teacher&lt;/b&gt;" in html
        assert 'id="slot"' not in html


class TestAvailabilityPage:
    def test_the_tutor_saves_hours_zone_and_exceptions(self):
        tutor = TutorFactory()
        client = signed_in(tutor)
        assert b"You have not set your hours yet" in client.get("/availability").content
        form = {
            "timezone": "Asia/Shanghai",
            "day-0": "09:00-12:00, 14:00–18:00",
            "day-2": " 8:30 - 10:00 ",
            "exceptions": "2026-12-24\n2026-12-31 10:00-12:00, 13:00-14:00\n",
        }
        response = client.post("/availability", form)
        assert response.status_code == 302 and response["Location"] == "/availability"
        stored = availability_get(tutor_id=tutor.pk)
        assert stored["timezone"] == "Asia/Shanghai"
        assert stored["weekly"] == [
            {"weekday": 0, "start": "09:00", "end": "12:00"},
            {"weekday": 0, "start": "14:00", "end": "18:00"},
            {"weekday": 2, "start": "08:30", "end": "10:00"},
        ]
        assert [(e["date"].isoformat(), e.get("start")) for e in stored["exceptions"]] == [
            ("2026-12-24", None),
            ("2026-12-31", "10:00"),
            ("2026-12-31", "13:00"),
        ]
        again = client.get("/availability")
        assert again.context["days"][0]["value"] == "09:00–12:00, 14:00–18:00"
        assert again.context["form"]["exceptions"] == "2026-12-24\n2026-12-31 10:00–12:00, 13:00–14:00"

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"day-1": "nine to five"}, "day-1"),
            ({"day-1": "09:00-08:00"}, "weekly"),
            ({"day-1": "09:00-12:00, 11:00-13:00"}, "weekly"),
            ({"exceptions": "Christmas"}, "exceptions"),
            ({"timezone": "Moon/Base"}, "timezone"),
        ],
    )
    def test_mistakes_are_shown_and_nothing_changes(self, change, field):
        tutor = TutorFactory()
        client = signed_in(tutor)
        good = {"timezone": "Europe/Berlin", "day-0": "09:00-10:00", "exceptions": ""}
        client.post("/availability", good)
        response = client.post("/availability", {**good, **change})
        assert response.status_code == 400 and response.context["errors"][field]
        assert availability_get(tutor_id=tutor.pk)["weekly"] == [{"weekday": 0, "start": "09:00", "end": "10:00"}]

    def test_tutors_only(self, client):
        assert client.get("/availability").status_code == 302
        assert signed_in(StudentFactory()).get("/availability").status_code == 403


class TestReviewForm:
    def test_the_student_reviews_a_completed_class_once(self):
        booking = held()
        student = signed_in(booking.student)
        page = student.get(f"/bookings/{booking.pk}")
        assert page.context["can_review"] and b'id="review"' in page.content
        assert b"#review" in student.get("/bookings").content
        done = student.post(f"/bookings/{booking.pk}/review", {"rating": "4", "comment": "Clear."}, follow=True)
        assert messages_of(done) == ["Thank you for your review."]
        assert done.context["review"].rating == 4
        again = student.post(f"/bookings/{booking.pk}/review", {"rating": "5"}, follow=True)
        assert messages_of(again) == ["This class has already been reviewed."]
        assert Review.objects.get().rating == 4
        assert b"#review" not in student.get("/bookings").content

    def test_bad_ratings_and_other_people(self):
        booking = held()
        student = signed_in(booking.student)
        for rating in ("0", "6", "four", ""):
            response = student.post(f"/bookings/{booking.pk}/review", {"rating": rating}, follow=True)
            assert messages_of(response), rating
        assert signed_in(booking.tutor).post(f"/bookings/{booking.pk}/review", {"rating": "5"}).status_code == 403
        stranger = signed_in(StudentFactory()).post(f"/bookings/{booking.pk}/review", {"rating": "5"}, follow=True)
        assert stranger.status_code == 404
        assert not Review.objects.exists()


class TestReceipt:
    def test_the_student_sees_what_they_paid_and_any_refund(self):
        booking = paid_booking(subject="Algebra")
        payments.refund_request(booking_id=booking.pk, user=booking.student, reason="ill")
        refund = booking.refunds.get()
        payments.refund_approve(refund_id=refund.pk, staff=StaffFactory(), amount=2500)
        refund.refresh_from_db()
        page = signed_in(booking.student).get(f"/bookings/{booking.pk}/receipt")
        assert page.status_code == 200
        html = page.content.decode()
        assert booking.payment.provider_id in html and booking.tutor.name in html and "Algebra" in html
        assert "$60.00" in html and "USD" in html
        assert "−$25.00" in html
        expected_net = "$35.00" if refund.status == "succeeded" else "$60.00"
        assert page.context["receipt"].net == (3500 if refund.status == "succeeded" else 6000)
        assert f"<td>{expected_net}</td>" in html
        assert b"Receipt" in signed_in(booking.student).get(f"/bookings/{booking.pk}").content

    def test_zero_decimal_currencies_are_whole_units(self):
        booking = paid_booking(tutor=TutorFactory(profile__currency="jpy", profile__hourly_rate=6000))
        html = signed_in(booking.student).get(f"/bookings/{booking.pk}/receipt").content.decode()
        assert "¥6,000" in html and "JPY" in html and "¥6,000.00" not in html and "¥60.00" not in html

    def test_only_the_student_of_a_paid_booking(self, client):
        booking = paid_booking()
        path = f"/bookings/{booking.pk}/receipt"
        for user in (booking.tutor, StudentFactory(), StaffFactory()):
            assert signed_in(user).get(path).status_code == 404
        assert client.get(path).status_code == 302  # to the login page
        unpaid = BookingFactory()
        assert signed_in(unpaid.student).get(f"/bookings/{unpaid.pk}/receipt").status_code == 404


class TestPasswordReset:
    def test_ask_then_choose_a_new_password(self, client):
        user = StudentFactory()
        asked = client.post("/password-reset", {"email": user.email}, follow=True)
        unknown = client.post("/password-reset", {"email": "nobody@example.test"}, follow=True)
        assert messages_of(asked) == messages_of(unknown) != []
        notifications_send_due(now=timezone.now())
        [email] = mail.outbox
        link = next(word for word in email.body.split() if "/password-reset/" in word)
        path = link.removeprefix("http://127.0.0.1:8000")
        form = client.get(path)
        assert form.status_code == 200 and b'id="password"' in form.content
        weak = client.post(path, {"password": "123"})
        assert weak.status_code == 400 and weak.context["errors"]["password"]
        done = client.post(path, {"password": "a-new-Secret-4711"}, follow=True)
        assert done.redirect_chain[-1][0] == "/login"
        assert User.objects.get(pk=user.pk).check_password("a-new-Secret-4711")
        used = client.post(path, {"password": "another-Secret-0815"})
        assert used.status_code == 400 and used.context["errors"]["token"]
        assert b"Forgot your password?" in client.get("/login").content

    def test_limited_like_the_api(self, client, settings):
        settings.RATE_LIMIT_PASSWORD_RESET = "1/h"
        client.post("/password-reset", {"email": "a@example.test"})
        api = client.post("/api/auth/password/reset", {"email": "a@example.test"}, content_type="application/json")
        assert api.status_code == 429


class TestLanguage:
    def test_the_switcher_remembers_a_signed_in_users_language_for_emails(self):
        user = StudentFactory()
        client = signed_in(user)
        client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
        assert User.objects.get(pk=user.pk).language == "zh-hans"
        client.post("/i18n/setlang/", {"language": "klingon", "next": "/"})
        assert User.objects.get(pk=user.pk).language == "zh-hans"
        Client().post("/i18n/setlang/", {"language": "en", "next": "/"})  # signed out: nobody's

    def test_registering_on_the_chinese_page_keeps_chinese(self):
        body = {"name": "Li", "email": "li@example.test", "password": PASSWORD, "role": "student"}
        Client().post("/register", body, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
        assert User.objects.get(email="li@example.test").language == "zh-hans"

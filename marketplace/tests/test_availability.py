"""Availability and free slots (docs/marketplace.md): weekly hours in the tutor's own time zone with
exceptions, slots around Europe/Berlin's daylight-saving changes, minus bookings that hold the time, and
bookings outside the hours refused."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings

from marketplace.models import Availability
from tutoring.models import Booking, BookingStatus
from tutoring.tests.factories import BookingFactory, StudentFactory, TutorFactory
from tutoring.tests.utils import assert_error, data

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
MINE = "/api/tutors/me/availability"
# Sundays 01:00–04:00 (across both of Berlin's changes in 2026), Mondays and Tuesdays 09:00–12:00;
# Saturday 28 March other hours (10:00–11:00), Tuesday 31 March off.
HOURS = {
    "timezone": "Europe/Berlin",
    "weekly": [
        {"weekday": 6, "start": "01:00", "end": "04:00"},
        {"weekday": 0, "start": "09:00", "end": "12:00"},
        {"weekday": 1, "start": "09:00", "end": "12:00"},
    ],
    "exceptions": [{"date": "2026-03-28", "start": "10:00", "end": "11:00"}, {"date": "2026-03-31"}],
}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def slots(client, tutor, start: str, end: str, minutes: int = 60) -> list[datetime]:
    page = data(client.get(f"/api/tutors/{tutor.pk}/slots", {"from": start, "to": end, "durationMinutes": minutes}))
    for slot in page["slots"]:
        assert slot["startTime"].endswith("+00:00")
        span = datetime.fromisoformat(slot["endTime"]) - datetime.fromisoformat(slot["startTime"])
        assert span == timedelta(minutes=minutes)
    return [datetime.fromisoformat(slot["startTime"]) for slot in page["slots"]]


def berlin_walls(starts: list[datetime]) -> list[str]:
    return [moment.astimezone(BERLIN).strftime("%d %H:%M%z") for moment in starts]


@pytest.fixture
def march():
    with time_machine.travel(datetime(2026, 3, 20, 12, tzinfo=UTC), tick=False):
        yield


@pytest.fixture
def berlin_tutor(client_for):
    tutor = TutorFactory()
    data(client_for(tutor).put(MINE, HOURS, format="json"))
    return tutor


class TestSetAndRead:
    def test_put_replaces_and_get_returns_it(self, client_for, tutor, student):
        client = client_for(tutor)
        body = data(client.put(MINE, HOURS, format="json"))
        assert body == data(client_for(student).get(f"/api/tutors/{tutor.pk}/availability"))
        assert body["timezone"] == "Europe/Berlin"
        assert body["weekly"] == [
            {"weekday": 0, "start": "09:00", "end": "12:00"},
            {"weekday": 1, "start": "09:00", "end": "12:00"},
            {"weekday": 6, "start": "01:00", "end": "04:00"},
        ]
        assert body["exceptions"] == [
            {"date": "2026-03-28", "start": "10:00", "end": "11:00"},
            {"date": "2026-03-31"},
        ]
        later = data(
            client.put(
                MINE, {"timezone": "Asia/Shanghai", "weekly": [{"weekday": 2, "start": "20:00", "end": "24:00"}]}
            )
        )
        assert later == {
            "timezone": "Asia/Shanghai",
            "weekly": [{"weekday": 2, "start": "20:00", "end": "24:00"}],
            "exceptions": [],
        }

    def test_a_tutor_without_availability_reads_as_none_set(self, client_for, tutor, student):
        assert data(client_for(student).get(f"/api/tutors/{tutor.pk}/availability")) == {
            "timezone": None,
            "weekly": [],
            "exceptions": [],
        }

    def test_only_tutors_set_it_and_only_tutors_have_it(self, client_for, tutor, student, api):
        assert_error(client_for(student).put(MINE, HOURS, format="json"), 403, MINE, "PUT")
        assert_error(api.put(MINE, HOURS, format="json"), 401, MINE, "PUT")
        assert_error(client_for(tutor).get(f"/api/tutors/{student.pk}/availability"), 404)
        assert not Availability.objects.exists()

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"timezone": "Mars/Olympus"}, "timezone"),
            ({"timezone": ""}, "timezone"),
            ({"weekly": [{"weekday": 7, "start": "09:00", "end": "10:00"}]}, "weekly"),
            ({"weekly": [{"weekday": "1", "start": "09:00", "end": "10:00"}]}, "weekly"),
            ({"weekly": [{"weekday": 1, "start": "9:00", "end": "10:00"}]}, "weekly"),
            ({"weekly": [{"weekday": 1, "start": "09:00", "end": "25:00"}]}, "weekly"),
            ({"weekly": [{"weekday": 1, "start": "10:00", "end": "10:00"}]}, "weekly"),
            ({"weekly": [{"weekday": 1, "start": "24:00", "end": "24:00"}]}, "weekly"),
            ({"weekly": [{"weekday": 1, "start": "09:00"}]}, "weekly"),
            (
                {
                    "weekly": [
                        {"weekday": 1, "start": "09:00", "end": "11:00"},
                        {"weekday": 1, "start": "10:30", "end": "12:00"},
                    ]
                },
                "weekly",
            ),
            ({"exceptions": [{"date": "2026-13-01"}]}, "exceptions"),
            ({"exceptions": [{"date": "01/04/2026"}]}, "exceptions"),
            ({"exceptions": [{"date": "2026-04-01", "start": "10:00"}]}, "exceptions"),
            (
                {"exceptions": [{"date": "2026-04-01"}, {"date": "2026-04-01", "start": "10:00", "end": "11:00"}]},
                "exceptions",
            ),
            ({"exceptions": [{"date": "2101-04-01"}]}, "exceptions"),
            ({"weekly": "Mondays"}, "weekly"),
        ],
    )
    def test_bad_input_is_400_and_changes_nothing(self, client_for, berlin_tutor, change, field):
        before = data(client_for(berlin_tutor).get(f"/api/tutors/{berlin_tutor.pk}/availability"))
        body = assert_error(client_for(berlin_tutor).put(MINE, {**HOURS, **change}, format="json"), 400, MINE, "PUT")
        assert field in body["errors"]
        assert data(client_for(berlin_tutor).get(f"/api/tutors/{berlin_tutor.pk}/availability")) == before


class TestSlotsAcrossDaylightSaving:
    def test_march_gap_exception_day_and_a_booking_in_the_way(self, client_for, student, berlin_tutor, march):
        BookingFactory(
            tutor=berlin_tutor, start_time=utc("2026-03-30T08:00"), end_time=utc("2026-03-30T09:00"), status="paid"
        )
        starts = slots(client_for(student), berlin_tutor, "2026-03-28T00:00:00Z", "2026-04-01T00:00:00Z")
        assert berlin_walls(starts) == [
            # Saturday's exception: other hours, 10:00–11:00.
            "28 10:00+0100",
            # Sunday 01:00–04:00 is two real hours: clocks jump from 02:00 to 03:00, no 02:xx exists.
            "29 01:00+0100",
            "29 01:15+0100",
            "29 01:30+0100",
            "29 01:45+0100",
            "29 03:00+0200",
            # Monday 09:00–12:00 (summer time now), less the paid booking from 10:00 to 11:00.
            "30 09:00+0200",
            "30 11:00+0200",
            # Tuesday 31 March is off.
        ]

    def test_october_repeated_hour_is_two_real_hours(self, client_for, student, berlin_tutor, march):
        starts = slots(client_for(student), berlin_tutor, "2026-10-24T00:00:00Z", "2026-10-26T00:00:00Z")
        assert starts[0] == utc("2026-10-24T23:00") and starts[-1] == utc("2026-10-25T02:00")
        assert len(starts) == len(set(starts)) == 13  # 4 real hours: starts every 15 minutes up to 03:00
        assert berlin_walls(starts) == [
            *(f"25 01:{m}+0200" for m in ("00", "15", "30", "45")),
            *(f"25 02:{m}+0200" for m in ("00", "15", "30", "45")),
            *(f"25 02:{m}+0100" for m in ("00", "15", "30", "45")),
            "25 03:00+0100",
        ]

    def test_only_quarter_hours_that_fit_the_duration(self, client_for, student, berlin_tutor, march):
        starts = slots(client_for(student), berlin_tutor, "2026-03-30T00:00:00Z", "2026-03-31T00:00:00Z", 150)
        # 09:00–12:00 leaves room for 2½ hours from 09:00 and 09:15, 09:30.
        assert berlin_walls(starts) == ["30 09:00+0200", "30 09:15+0200", "30 09:30+0200"]

    def test_expired_and_cancelled_bookings_free_the_time(self, client_for, student, berlin_tutor, march):
        ttl = timedelta(minutes=settings.BOOKING_PAYMENT_TTL_MINUTES)
        monday = {"tutor": berlin_tutor, "start_time": utc("2026-03-30T07:00"), "end_time": utc("2026-03-30T10:00")}
        unpaid = BookingFactory(**monday, created_at=datetime(2026, 3, 20, 12, tzinfo=UTC) - ttl)
        assert unpaid.status == BookingStatus.PENDING_PAYMENT  # no job has written it down
        BookingFactory(**{**monday, "end_time": utc("2026-03-30T08:00")}, status=BookingStatus.CANCELLED)
        starts = slots(client_for(student), berlin_tutor, "2026-03-30T00:00:00Z", "2026-03-31T00:00:00Z", 180)
        assert berlin_walls(starts) == ["30 09:00+0200"]
        # A new booking in the stale one's time writes it down as expired and takes the last quarter hour.
        book = {"tutorId": str(berlin_tutor.pk), "startTime": "2026-03-30T09:45:00Z", "durationMinutes": 15}
        data(client_for(student).post("/api/bookings", book, format="json"), 201)
        assert Booking.objects.get(pk=unpaid.pk).status == BookingStatus.EXPIRED
        assert slots(client_for(student), berlin_tutor, "2026-03-30T00:00:00Z", "2026-03-31T00:00:00Z", 180) == []

    def test_no_slots_in_the_past(self, client_for, student, berlin_tutor):
        with time_machine.travel(datetime(2026, 3, 30, 8, 5, tzinfo=UTC), tick=False):  # 10:05 in Berlin
            starts = slots(client_for(student), berlin_tutor, "2026-03-30T00:00:00Z", "2026-03-31T00:00:00Z")
        assert berlin_walls(starts) == ["30 10:15+0200", "30 10:30+0200", "30 10:45+0200", "30 11:00+0200"]

    def test_hours_over_midnight_join_into_one_span(self, client_for, student, march):
        tutor = TutorFactory()
        late = {
            "timezone": "UTC",
            "weekly": [
                {"weekday": 0, "start": "22:00", "end": "24:00"},
                {"weekday": 1, "start": "00:00", "end": "01:00"},
            ],
        }
        data(client_for(tutor).put(MINE, late, format="json"))
        starts = slots(client_for(student), tutor, "2026-03-23T00:00:00Z", "2026-03-25T00:00:00Z", 180)
        assert starts == [utc("2026-03-23T22:00")]

    def test_a_tutor_without_hours_has_no_slots(self, client_for, student, tutor, march):
        assert slots(client_for(student), tutor, "2026-03-23T00:00:00Z", "2026-03-25T00:00:00Z") == []

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"from": "2026-03-23T00:00:00Z", "to": "2026-04-24T00:00:01Z"}, "to"),
            ({"from": "2026-03-23T00:00:00Z", "to": "2026-03-23T00:00:00Z"}, "to"),
            ({"from": "2026-03-23T00:00:00", "to": "2026-03-24T00:00:00Z"}, "from"),
            ({"from": "yesterday", "to": "2026-03-24T00:00:00Z"}, "from"),
            ({"to": "2026-03-24T00:00:00Z"}, "from"),
            ({"from": "2026-03-23T00:00:00Z", "to": "2026-03-24T00:00:00Z", "durationMinutes": 20}, "durationMinutes"),
            ({"from": "2026-03-23T00:00:00Z", "to": "2026-03-24T00:00:00Z", "durationMinutes": 300}, "durationMinutes"),
            ({"from": "2026-03-23T00:00:00Z", "to": "2026-03-24T00:00:00Z", "durationMinutes": "x"}, "durationMinutes"),
        ],
    )
    def test_bad_queries_are_400(self, client_for, student, berlin_tutor, params, field):
        path = f"/api/tutors/{berlin_tutor.pk}/slots"
        body = assert_error(client_for(student).get(path, {"durationMinutes": 60, **params}), 400, path, "GET")
        assert field in body["errors"]

    def test_31_days_is_allowed_and_unknown_tutors_are_404(self, client_for, student, berlin_tutor, march):
        assert slots(client_for(student), berlin_tutor, "2026-03-23T00:00:00Z", "2026-04-23T00:00:00Z")
        path = f"/api/tutors/{student.pk}/slots"
        query = {"from": "2026-03-23T00:00:00Z", "to": "2026-03-24T00:00:00Z", "durationMinutes": 60}
        assert_error(client_for(student).get(path, query), 404, path, "GET")


class TestBookingsKeepToTheHours:
    def book(self, client, tutor, start: str, minutes: int = 60):
        body = {"tutorId": str(tutor.pk), "startTime": start, "durationMinutes": minutes}
        return client.post("/api/bookings", body, format="json")

    def test_inside_is_booked_outside_is_409(self, client_for, student, berlin_tutor, march):
        client = client_for(student)
        # Sunday 29 March: the hours end at 04:00 summer time, 02:00 UTC.
        data(self.book(client, berlin_tutor, "2026-03-29T03:00:00+02:00"), 201)
        body = assert_error(self.book(client, berlin_tutor, "2026-03-29T01:15:00Z"), 409, "/api/bookings", "POST")
        assert "availability" in body["message"]
        # Tuesday 31 March is off; Wednesday has no hours; an hour before Monday's start is outside.
        for start in ("2026-03-31T09:00:00+02:00", "2026-04-01T10:00:00+02:00", "2026-03-30T08:00:00+02:00"):
            assert_error(self.book(client, berlin_tutor, start), 409)
        assert Booking.objects.count() == 1

    def test_a_slot_offered_can_be_booked_and_is_then_gone(self, client_for, berlin_tutor, march):
        client = client_for(StudentFactory())
        window = ("2026-10-24T00:00:00Z", "2026-10-26T00:00:00Z")
        offered = slots(client, berlin_tutor, *window)
        second_two_oclock = utc("2026-10-25T01:00")  # 02:00 winter time, after the clocks fell back
        assert second_two_oclock in offered
        data(self.book(client, berlin_tutor, second_two_oclock.isoformat()), 201)
        left = slots(client, berlin_tutor, *window)
        assert [s for s in offered if not utc("2026-10-25T00:00") < s < utc("2026-10-25T02:00")] == left

    def test_without_availability_any_time_can_be_booked(self, client_for, student, tutor, march):
        data(self.book(client_for(student), tutor, "2026-03-31T03:07:00Z"), 201)


def test_errors_follow_the_requests_language(client_for, student, berlin_tutor):
    path = f"/api/tutors/{berlin_tutor.pk}/slots"
    query = {"from": "2026-03-01T00:00:00Z", "to": "2026-05-01T00:00:00Z", "durationMinutes": 60}
    chinese = assert_error(client_for(student).get(path, query, HTTP_ACCEPT_LANGUAGE="zh-CN"), 400, path, "GET")
    assert chinese["errors"] == {"to": ["最多为 from 之后 31 天。"]}
    body = {
        **HOURS,
        "weekly": [{"weekday": 0, "start": "09:00", "end": "11:00"}, {"weekday": 0, "start": "10:00", "end": "12:00"}],
    }
    overlap = client_for(berlin_tutor).put(MINE, body, format="json", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert assert_error(overlap, 400)["errors"]["weekly"] == ["星期一：时间段重叠。"]

"""The marketplace in a real browser (docs/pages.md): a tutor in Berlin sets the hours they teach; a
student in Shanghai picks one of the tutor's free times on the profile, shown on the student's own
clock, and books exactly that moment; the review, the receipt and password reset pages in both
languages."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from marketplace.selectors import availability_get
from tutoring.models import Booking
from tutoring.tests.browser.conftest import check_page, screenshot
from tutoring.tests.browser.test_flow import log_in
from tutoring.tests.factories import TutorFactory

pytestmark = pytest.mark.browser

BERLIN, SHANGHAI = ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Shanghai")


def test_a_tutor_sets_hours_and_a_student_books_a_free_time(browse):
    ada = TutorFactory(name="Ada Lovelace", profile__subjects=["Mathematics"], profile__hourly_rate=4000)
    day_off = (timezone.now() + timedelta(days=2)).astimezone(BERLIN).date()

    # --- the tutor, in Berlin, writes their week and a day off ---------------------------------------
    _, tutor, tutor_watch = browse(time_zone="Europe/Berlin")
    log_in(tutor, ada.email)
    tutor.get_by_role("link", name="Availability").click()
    expect(tutor.locator("main h1")).to_have_text("When you teach")
    expect(tutor.locator("#timezone")).to_have_value("Europe/Berlin")  # the browser's own zone to start
    check_page(tutor, tutor_watch)
    for weekday in range(7):
        tutor.fill(f"#day-{weekday}", "09:00-12:00, 14:00-15:00")
    tutor.fill("#exceptions", day_off.isoformat())
    tutor.get_by_role("button", name="Save availability").click()
    expect(tutor.locator(".message.success")).to_have_text("Your availability is saved.")
    expect(tutor.locator("#day-0")).to_have_value("09:00–12:00, 14:00–15:00")
    check_page(tutor, tutor_watch)
    screenshot(tutor, "availability")
    saved = availability_get(tutor_id=ada.pk)
    assert saved["timezone"] == "Europe/Berlin" and len(saved["weekly"]) == 14
    assert saved["exceptions"] == [{"date": day_off}]

    # A mistake is shown beside its field, and changes nothing.
    tutor.fill("#day-1", "nine to noon")
    tutor.get_by_role("button", name="Save availability").click()
    expect(tutor.locator("#day-1-error")).to_be_visible()
    assert availability_get(tutor_id=ada.pk) == saved

    # --- the student, in Shanghai, picks a free time on the profile ----------------------------------
    _, student, student_watch = browse(time_zone="Asia/Shanghai")
    student.goto("/register")
    student.fill("#name", "Grace Hopper")
    student.fill("#email", "grace@example.test")
    student.fill("#password", "correct-horse-battery-9")
    student.locator("main button[type=submit]").click()
    student.goto(f"/tutors/{ada.pk}")
    slot = student.locator("#slot")
    expect(slot).to_be_visible()
    check_page(student, student_watch)
    screenshot(student, "tutor-free-times")

    offered = [
        datetime.fromisoformat(v) for v in slot.locator("option").evaluate_all("os => os.map(o => o.value)") if v
    ]
    assert offered and all(moment > timezone.now() for moment in offered)
    berlin_walls = {moment.astimezone(BERLIN) for moment in offered}
    assert all(wall.date() != day_off for wall in berlin_walls)  # the day off has none
    assert all(
        (9 <= wall.hour < 11) or (wall.hour == 11 and wall.minute == 0) or (wall.hour, wall.minute) == (14, 0)
        for wall in berlin_walls
    )  # an hour's class fits 09:00–12:00 or 14:00–15:00 on the tutor's clock

    # Grouped by the student's days, each time on the student's clock.
    first = offered[0].astimezone(SHANGHAI)
    group = slot.locator("optgroup").first
    assert str(first.day) in group.get_attribute("label")
    expect(group.locator("option").first).to_have_text(re.compile(rf"{first.hour % 12 or 12}:{first.minute:02d}"))

    pick = offered[3]
    slot.select_option(pick.isoformat())
    expect(student.locator("#start")).to_have_value(pick.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M"))
    expect(student.locator("#duration")).to_have_value("60")
    student.locator("#booking-form button[type=submit]").click()
    expect(student.locator("#booking-status")).to_have_text("Awaiting payment")
    booking = Booking.objects.get()
    assert booking.start_time == pick and booking.duration_minutes == 60
    check_page(student, student_watch)

    # The time is taken: the profile no longer offers it.
    student.goto(f"/tutors/{ada.pk}")
    values = student.locator("#slot option").evaluate_all("os => os.map(o => o.value)")
    assert pick.isoformat() not in values


def test_new_pages_in_chinese(browse):
    from payments.tests.factories import paid_booking

    booking = paid_booking(subject="Mathematics")
    _, page, watch = browse(locale="zh-CN")
    for path, heading in [("/password-reset", "忘记密码？")]:
        page.goto(path)
        expect(page.locator("main h1")).to_have_text(heading)
        check_page(page, watch)
    log_in(page, booking.student.email)
    page.goto(f"/bookings/{booking.pk}/receipt")
    expect(page.locator("main h1")).to_have_text("收据")
    expect(page.locator("main")).to_contain_text(booking.payment.provider_id)
    check_page(page, watch)
    screenshot(page, "zh-receipt")

    _, tutor, tutor_watch = browse(locale="zh-CN")
    log_in(tutor, booking.tutor.email)
    tutor.goto("/availability")
    expect(tutor.locator("main h1")).to_have_text("您的授课时间")
    check_page(tutor, tutor_watch)

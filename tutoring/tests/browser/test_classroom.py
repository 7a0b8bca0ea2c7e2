"""The tutor's classroom controls in real browsers (docs/pages.md "Classroom"): the tutor mutes the student
and the student's page says so; removes them (their page says so and offers to rejoin) and admits them
again; records the class, ends it, and the recording plays on the booking's page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from live.models import Participant
from live.tests.factories import ActiveSessionFactory
from tutoring.models import Booking, BookingStatus
from tutoring.tests.browser.conftest import check_page, screenshot
from tutoring.tests.factories import PASSWORD

pytestmark = pytest.mark.browser

SECOND = 1000


def log_in(page, email: str) -> None:
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.locator("main button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/$"))


def test_mute_remove_admit_record_and_play(browse):
    session = ActiveSessionFactory(student_present=False)
    booking = session.booking
    _, student, student_watch = browse()
    log_in(student, booking.student.email)
    student.goto(f"/classroom/{session.pk}")
    expect(student.locator("#connection")).to_have_attribute("data-state", "online")

    _, tutor, tutor_watch = browse()
    log_in(tutor, booking.tutor.email)
    tutor.goto(f"/classroom/{session.pk}")
    expect(tutor.locator("#connection")).to_have_attribute("data-state", "online")
    student_row = tutor.locator("[data-role=student]")
    expect(student_row.locator("[data-state=connected]")).to_have_attribute("data-on", "true")

    # --- mute: the student's page says so at once -------------------------------------------------
    student.get_by_role("button", name="Unmute mic").click()
    expect(student_row.locator("[data-state=audio]")).to_have_attribute("data-on", "true", timeout=5 * SECOND)
    tutor.locator("#mute-student").click()
    expect(student.locator("#moderation-text")).to_have_text("The tutor muted you.", timeout=SECOND)
    expect(student.locator("#toggle-mic")).to_have_text("Unmute mic")
    expect(student_row.locator("[data-state=muted]")).to_be_visible()
    expect(student.locator("[data-role=student] [data-state=audio]")).to_have_attribute("data-on", "false")
    expect(tutor.locator("#unmute-student")).to_be_visible()
    screenshot(student, "classroom-student-muted")
    screenshot(tutor, "classroom-tutor-controls")

    # --- remove, then admit: the student's page leaves the class and comes back --------------------
    tutor.locator("#remove-student").click()
    expect(student.locator("#moderation-text")).to_contain_text("removed you", timeout=SECOND)
    expect(student.locator("#rejoin")).to_be_visible()
    expect(student.locator("#chat-input")).to_be_disabled()
    expect(student_row.locator("[data-state=removed]")).to_be_visible()
    assert Participant.objects.get(session=session, user=booking.student).removed
    tutor.locator("#admit-student").click()
    expect(student_row.locator("[data-state=removed]")).to_have_count(0)
    student.locator("#rejoin").click()
    expect(student.locator("#connection")).to_have_attribute("data-state", "online")
    expect(student.locator("#chat-input")).to_be_enabled()
    expect(student_row.locator("[data-state=connected]")).to_have_attribute("data-on", "true")

    # --- record, stop, end: the recording plays on the booking's page ------------------------------
    tutor.get_by_role("button", name="Record").click()
    expect(student.locator("#recording-badge")).to_be_visible(timeout=SECOND)
    tutor.get_by_role("button", name="Stop recording").click()
    expect(student.locator("#recording-badge")).to_be_hidden(timeout=SECOND)
    tutor.get_by_role("button", name="End class").click()
    expect(student.locator("#session-status")).to_have_text("Class ended", timeout=SECOND)
    expect(student.locator("#moderation-text")).to_have_text(
        "The recording is ready on the booking's page.", timeout=5 * SECOND
    )
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.COMPLETED  # the student was there
    check_page(student, student_watch)
    check_page(tutor, tutor_watch)

    student.goto(f"/bookings/{booking.pk}")
    player = student.locator("#recording-player")
    expect(player).to_be_visible()
    assert "/recording/media?token=" in player.get_attribute("src")
    player.evaluate("video => video.play()")
    student.wait_for_function(
        "() => { const v = document.getElementById('recording-player'); return !v.paused && v.currentTime > 0.5; }",
        timeout=10 * SECOND,
    )
    assert student.evaluate("document.getElementById('recording-player').duration") == pytest.approx(3, abs=0.1)
    check_page(student, student_watch)
    screenshot(student, "booking-recording")

"""The product in a real browser (docs/pages.md): a student registers, finds a tutor, books, pays in
the sandbox and joins the class; the tutor joins from a second browser and starts it; chat and hand
raising reach the other browser within a second, hostile chat stays text, a reconnecting student gets
what they missed; the tutor ends the class and sees the new earnings; every page also in Chinese."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from live.models import Message
from payments.selectors import tutor_earnings
from tutoring.models import Booking
from tutoring.templatetags.pages import money
from tutoring.tests.asgi_server import settle
from tutoring.tests.browser.conftest import check_page, screenshot
from tutoring.tests.factories import PASSWORD, TutorFactory

pytestmark = pytest.mark.browser

SECOND = 1000  # ms: what "within a second" means to Playwright's expect
CJK = re.compile(r"[\u4e00-\u9fff]")
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
MISSED = 52  # more than the 50 messages a join brings back, so the page must page through the API


def log_in(page, email: str) -> None:
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.locator("main button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/$"))


def send_chat(page, text: str) -> None:
    page.fill("#chat-input", text)
    page.locator("#chat-send").click()
    expect(page.locator("#chat-input")).to_have_value("")


def test_book_pay_meet_and_earn(browse, settings):
    # The class is booked days ahead; the tutor may start it now (the class window has its own tests).
    settings.CLASS_START_EARLY_MINUTES = 10 * 24 * 60
    ada = TutorFactory(
        name="Ada Lovelace",
        email="ada@example.test",
        profile__subjects=["Mathematics", "Programming"],
        profile__hourly_rate=4000,
    )
    TutorFactory(name="Alan Turing", profile__subjects=["Logic"])
    before = tutor_earnings(tutor_id=ada.pk)

    # --- the student registers and finds a tutor by subject --------------------------------------
    _, student, student_watch = browse()
    student.goto("/register")
    check_page(student, student_watch)
    screenshot(student, "register")
    student.fill("#name", "Grace Hopper")
    student.fill("#email", "grace@example.test")
    student.fill("#password", PASSWORD)
    student.locator("main button[type=submit]").click()
    expect(student.locator(".message.success")).to_be_visible()
    student.fill("#subject", "mathematics")
    student.locator("form.search button").click()
    expect(student.locator(".tutor-card")).to_have_count(1)
    expect(student.locator(".tutor-card h3")).to_have_text("Ada Lovelace")
    check_page(student, student_watch)
    screenshot(student, "home-search")

    # --- books a slot in their own time zone (Shanghai, UTC+8) -------------------------------------
    student.locator(".tutor-card .button").click()
    expect(student.locator("h1")).to_have_text("Ada Lovelace")
    expect(student.locator("[data-timezone]")).to_have_text("Asia/Shanghai")
    check_page(student, student_watch)
    screenshot(student, "tutor")
    local_start = (timezone.now() + timedelta(days=3)).astimezone(ZoneInfo("Asia/Shanghai"))
    local_start = local_start.replace(hour=10, minute=0, second=0, microsecond=0)
    student.fill("#start", local_start.strftime("%Y-%m-%dT%H:%M"))
    student.select_option("#duration", "60")
    student.select_option("#booking-subject", "Mathematics")
    student.locator("#booking-form button[type=submit]").click()
    expect(student.locator("#booking-status")).to_have_text("Awaiting payment")
    booking = Booking.objects.get()
    assert booking.start_time == local_start and booking.price == 4000
    # Shown back in the viewer's zone, not the server's.
    expect(student.locator("dd time").first).to_contain_text("10:00")

    # --- pays in the sandbox -----------------------------------------------------------------------
    student.get_by_role("button", name="Pay $40.00").click()
    expect(student.locator(".sandbox-box")).to_be_visible()
    check_page(student, student_watch)
    student.get_by_role("button", name="Pay $40.00 (sandbox)").click()
    expect(student.locator("#booking-status")).to_have_text("Paid")
    check_page(student, student_watch)
    screenshot(student, "booking-paid")

    # --- both join the class ----------------------------------------------------------------------
    student.get_by_role("button", name="Join the class").click()
    expect(student.locator("#connection")).to_have_attribute("data-state", "online")
    expect(student.locator("#session-status")).to_have_text("Waiting for the tutor to start")

    _, tutor, tutor_watch = browse(viewport={"width": 390, "height": 844})
    log_in(tutor, "ada@example.test")
    tutor.goto("/bookings")
    tutor.locator(".row-title").first.click()
    tutor.get_by_role("link", name="Go to the classroom").click()
    expect(tutor.locator("#connection")).to_have_attribute("data-state", "online")
    student_row = tutor.locator("[data-role=student]")
    expect(student_row.locator("[data-state=connected]")).to_have_attribute("data-on", "true")
    expect(student.locator("[data-role=tutor] [data-state=connected]")).to_have_attribute(
        "data-on", "true", timeout=SECOND
    )

    # --- the tutor starts; chat and the hand reach the other browser within a second --------------
    tutor.get_by_role("button", name="Start class").click()
    expect(student.locator("#session-status")).to_have_text("In class", timeout=SECOND)

    send_chat(student, "Hello, Ada!")
    expect(tutor.locator("#messages .message-text")).to_have_text(["Hello, Ada!"], timeout=SECOND)
    send_chat(tutor, "Hi Grace, welcome.")
    expect(student.locator("#messages .message-text").last).to_have_text("Hi Grace, welcome.", timeout=SECOND)

    student.get_by_role("button", name="Raise hand").click()
    expect(student_row.locator("[data-state=hand]")).to_be_visible(timeout=SECOND)
    student.get_by_role("button", name="Start camera").click()
    expect(student_row.locator("[data-state=video]")).to_have_attribute("data-on", "true", timeout=SECOND)
    assert student.evaluate("document.getElementById('local-video').srcObject.getVideoTracks().length") == 1
    expect(student.locator("#local-placeholder")).to_be_hidden()

    # --- a hostile message is text in both browsers; nothing runs --------------------------------
    send_chat(student, HOSTILE)
    expect(tutor.locator("#messages .message-text").last).to_have_text(HOSTILE, timeout=SECOND)
    for page in (student, tutor):
        assert page.evaluate("window.__pwned") is None
        assert page.locator("#messages script, #messages img").count() == 0
    assert student_watch.dialogs == tutor_watch.dialogs == []
    check_page(student, student_watch)
    check_page(tutor, tutor_watch)
    screenshot(student, "classroom-student")
    screenshot(tutor, "classroom-tutor-phone")

    # --- the student drops off; what was said meanwhile is filled in after reconnecting -----------
    student.context.set_offline(True)
    expect(student.locator("#connection")).to_have_attribute("data-state", "reconnecting")
    expect(student_row.locator("[data-state=connected]")).to_have_attribute("data-on", "false")
    for n in range(MISSED):
        send_chat(tutor, f"while you were away {n}")
    student.context.set_offline(False)
    expect(student.locator("#connection")).to_have_attribute("data-state", "online", timeout=15 * SECOND)
    expect(student.locator("#messages .message-item")).to_have_count(3 + MISSED)
    expect(student.locator("#messages .message-text").last).to_have_text(f"while you were away {MISSED - 1}")
    ids = student.eval_on_selector_all("#messages .message-item", "items => items.map(i => i.dataset.id)")
    assert len(set(ids)) == len(ids) == Message.objects.count()
    expect(student_row.locator("[data-state=connected]")).to_have_attribute("data-on", "true")

    # --- the tutor ends the class ------------------------------------------------------------------
    tutor.get_by_role("button", name="End class").click()
    expect(student.locator("#session-status")).to_have_text("Class ended", timeout=SECOND)
    expect(student.locator("#chat-input")).to_be_disabled()
    assert tutor_watch.dialogs == ["confirm: End the class for everyone?"]

    # --- the earnings page shows the new figures ---------------------------------------------------
    student.context.close()
    tutor.goto("/earnings")
    settle()
    after = tutor_earnings(tutor_id=ada.pk)
    assert after != before and after.payments_count == before.payments_count + 1
    for name, value in [
        ("balance", after.balance),
        ("totalEarnings", after.total_earnings),
        ("pendingEarnings", after.pending_earnings),
        ("totalWithdrawn", after.total_withdrawn),
    ]:
        expect(tutor.locator(f"[data-figure={name}]")).to_have_text(money(value, "usd"))
    expect(tutor.locator("[data-figure=paymentsCount]")).to_have_text(str(after.payments_count))
    if after.total_earnings:
        expect(tutor.locator("#earnings-chart canvas")).to_have_count(1)
    check_page(tutor, tutor_watch)
    screenshot(tutor, "earnings-phone")


def test_every_page_in_chinese_and_the_switcher(browse):
    from live.tests.factories import SessionFactory
    from withdrawals.tests.factories import tutor_with_balance

    session = SessionFactory(
        booking__tutor=tutor_with_balance(name="Ada Lovelace"),
        booking__student__name="Grace",
        # Clear of the held class `tutor_with_balance` booked (PostgreSQL refuses overlaps).
        booking__start_time=timezone.now() + timedelta(days=10),
    )
    student = session.booking.student
    tutor = session.booking.tutor

    _, page, watch = browse(locale="zh-CN")
    pages = [
        ("/", "全部导师"),
        (f"/tutors/{tutor.pk}", "预约课程"),
        ("/register", "创建你的账户"),
        ("/login", "登录"),
    ]
    for path, text in pages:
        page.goto(path)
        expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
        expect(page.locator("main")).to_contain_text(text)
        check_page(page, watch)
    screenshot(page, "zh-home")
    log_in(page, student.email)
    for path, text in [
        ("/bookings", "我的预约"),
        (f"/bookings/{session.booking.pk}", "详情"),
        (f"/classroom/{session.pk}", "参与者"),
    ]:
        page.goto(path)
        expect(page.locator("main")).to_contain_text(text)
        check_page(page, watch)
    expect(page.locator("#connection")).to_have_text("已连接")
    expect(page.locator("#toggle-hand")).to_have_text("举手")
    screenshot(page, "zh-classroom")

    _, tutor_page, tutor_watch = browse(locale="zh-CN")
    log_in(tutor_page, tutor.email)
    tutor_page.goto("/earnings")
    expect(tutor_page.locator("main h1")).to_have_text("收入")
    check_page(tutor_page, tutor_watch)
    screenshot(tutor_page, "zh-earnings")

    # The switcher: an English browser chooses Chinese, and the choice stays.
    _, english, english_watch = browse(locale="en-US")
    english.goto("/login")
    expect(english.locator("main h1")).to_have_text("Log in")
    english.select_option("#language", "zh-hans")
    expect(english.locator("main h1")).to_have_text("登录")
    english.goto("/")
    assert CJK.search(english.locator("main h1").inner_text())
    check_page(english, english_watch)


def test_api_documentation_runs_under_the_policy(browse):
    _, page, watch = browse()
    page.goto("/api/docs/")
    expect(page.locator(".opblock").first).to_be_visible(timeout=15 * SECOND)
    assert watch.errors == []


def test_a_new_tutor_sets_their_rate_on_a_phone_and_appears_bookable(browse):
    _, tutor, watch = browse(viewport={"width": 390, "height": 844})
    tutor.goto("/register")
    tutor.get_by_label("Teach (tutor)").check()
    tutor.fill("#name", "Mary Somerville")
    tutor.fill("#email", "mary@example.test")
    tutor.fill("#password", "a-long-pass-314")
    tutor.locator("main button[type=submit]").click()
    # Signed up as a tutor: straight to the profile, since a tutor without a rate cannot be booked.
    expect(tutor).to_have_url(re.compile(r"/profile$"))
    expect(tutor.locator("main h1")).to_have_text("Your profile")
    check_page(tutor, watch)

    tutor.fill("#hourlyRate", "45.5x")
    tutor.get_by_role("button", name="Save profile").click()
    expect(tutor.locator("#hourlyRate-error")).to_be_visible()  # beside its field; nothing saved
    tutor.fill("#hourlyRate", "45.50")
    tutor.select_option("#currency", "eur")
    tutor.fill("#subjects", "Astronomy, Mathematics")
    tutor.fill("#bio", "I explain the sky with numbers.")
    tutor.get_by_role("button", name="Save profile").click()
    expect(tutor.locator(".message.success")).to_have_text("Your profile is saved.")
    expect(tutor.locator("#hourlyRate")).to_have_value("45.50")
    check_page(tutor, watch)
    screenshot(tutor, "profile-phone")

    tutor.get_by_role("link", name="See your public page").click()
    expect(tutor.locator("main")).to_contain_text("€45.50")
    expect(tutor.locator("main")).to_contain_text("Astronomy")

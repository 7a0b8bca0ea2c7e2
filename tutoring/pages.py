"""The pages of accounts, tutors and bookings (docs/pages.md): home and search, a tutor's profile with
the booking form, sign-in, sign-out, registration, my bookings and a booking with its actions.

Each view validates with the API's serializers and calls one service or selector; the booking page's
actions (pay, cancel, refund request, join) are forms posting to small views that call the service
the API calls and show its answer.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import check_for_language, get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language
from rest_framework_simplejwt.tokens import AccessToken

from live import selectors as live_selectors
from live import services as live_services
from marketplace import selectors as market_selectors
from payments import selectors as payment_selectors
from payments import services as payment_services
from payments.models import OPEN_REFUND_STATUSES, PaymentStatus, RefundStatus
from payments.serializers import RefundIn
from payments.stripe.sandbox import payment_sandbox_confirm
from tutoring import selectors, services
from tutoring.access import has_role
from tutoring.api.auth import LOCKED_OUT
from tutoring.api.ratelimit import PasswordResetRateLimit, request_rate_check, reset_address_rate_check
from tutoring.models import Booking, BookingStatus, Role
from tutoring.money import STRIPE_CURRENCIES, from_minor_units, minor_digits, to_minor_units
from tutoring.serializers import (
    BookingCreateIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    RegisterIn,
    TutorPatchIn,
    TutorSearchIn,
)
from tutoring.web import STRIPE_JS, attempt, csp_allow, found, json_page, page, page_of, validate

DURATIONS = range(15, 241, 15)


def _next_url(request: HttpRequest) -> str:
    """Where to go after signing in: the `next` the login page was given, if it is on this site."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("home")


# --- home, tutors ---------------------------------------------------------------------------------


SORTS = (
    ("", gettext_lazy("Best match")),
    ("rating", gettext_lazy("Best rated")),
    ("price", gettext_lazy("Price: low to high")),
    ("-price", gettext_lazy("Price: high to low")),
    ("newest", gettext_lazy("Newest")),
)


def home(request: HttpRequest) -> HttpResponse:
    """Tutor search, as `GET /api/tutors` searches: words, a subject, an order."""
    query = {key: request.GET.get(key, "").strip() for key in ("q", "subject", "sort") if request.GET.get(key)}
    search, errors = validate(TutorSearchIn, query)
    if search is None:
        search = {"q": "", "subject": ""}
    tutors, order = selectors.tutor_list(q=search["q"], subject=search["subject"], sort=search.get("sort"))
    tutors, next_cursor = page_of(tutors, request, order)
    context = {
        "tutors": tutors,
        "next": next_cursor,
        "q": search["q"],
        "subject": search["subject"],
        "sort": search.get("sort", ""),
        "sorts": SORTS,
        "search_errors": errors,
        "query": urlencode({key: search[key] for key in ("q", "subject", "sort") if search.get(key)}),
        "subjects": selectors.subject_list(),
    }
    return render(request, "pages/home.html", context)


def tutor(request: HttpRequest, tutor_id) -> HttpResponse:
    """A tutor's profile and, for students, the booking form (POST books through `booking_create`)."""
    profile = found(selectors.tutor_get, tutor_id=tutor_id)
    form: dict = {"durationMinutes": "60", "subject": ""}
    errors: dict = {}
    status = 200
    if request.method == "POST":
        if not has_role(request.user, Role.STUDENT):
            return redirect(f"{reverse('login')}?next={request.path}")
        form = request.POST
        values, errors = validate(
            BookingCreateIn,
            {
                "tutorId": str(profile.user_id),
                "startTime": form.get("startTime", ""),
                "durationMinutes": form.get("durationMinutes", ""),
                "subject": form.get("subject", ""),
            },
        )
        if values is not None:
            outcome = attempt(
                request,
                services.booking_create,
                student=request.user,
                tutor_id=values["tutorId"],
                start_time=values["startTime"],
                duration_minutes=values["durationMinutes"],
                subject=values["subject"],
            )
            if outcome.ok:
                messages.success(request, _("Booked. Pay for it to confirm the class."))
                return redirect("booking", booking_id=outcome.value.pk)
        status = 400
    durations = [
        {
            "minutes": m,
            "price": None
            if profile.hourly_rate is None
            else services.booking_price(hourly_rate=profile.hourly_rate, duration_minutes=m),
        }
        for m in DURATIONS
    ]
    minutes = _slot_minutes(request)
    now = timezone.now()
    slots = market_selectors.slots_for_tutor(
        tutor_id=profile.user_id, start=now, end=now + SLOT_DAYS, duration_minutes=minutes, now=now
    )
    reviews, next_reviews = page_of(market_selectors.review_list_for_tutor(tutor_id=profile.user_id), request)
    context = {
        "profile": profile,
        "form": form,
        "errors": errors,
        "durations": durations,
        "slots": slots,
        "slot_minutes": minutes,
        "has_hours": market_selectors.availability_is_set(tutor_id=profile.user_id),
        "reviews": reviews,
        "next_reviews": next_reviews,
    }
    return render(request, "pages/tutor.html", context, status=status)


# How far ahead the profile offers free times, and for which length (`?minutes=`, an hour by default).
SLOT_DAYS = timedelta(days=14)


def _slot_minutes(request: HttpRequest) -> int:
    minutes = request.GET.get("minutes", "")
    return int(minutes) if minutes.isdigit() and int(minutes) in DURATIONS else 60


# --- accounts -------------------------------------------------------------------------------------


def login_page(request: HttpRequest) -> HttpResponse:
    email = ""
    status = 200
    if request.method == "POST":
        email = request.POST.get("email", "").strip()
        # Counted with the API's calls of the same client: guessing passwords here is no cheaper.
        attempt_ok = attempt(request, request_rate_check, request=request).ok
        user = attempt_ok and authenticate(request, username=email.lower(), password=request.POST.get("password", ""))
        if user:
            login(request, user)
            return redirect(_next_url(request))
        if getattr(request, "axes_locked_out", False):  # django-axes: too many failures (docs/operations.md)
            messages.error(request, LOCKED_OUT)
        elif attempt_ok:
            messages.error(request, _("Wrong email or password."))
        status = 400
    return render(request, "pages/login.html", {"email": email, "next": _next_url(request)}, status=status)


@require_POST
def logout_page(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("home")


def register_page(request: HttpRequest) -> HttpResponse:
    form: dict = {"role": Role.STUDENT}
    errors: dict = {}
    status = 200
    if request.method == "POST":
        form = request.POST
        values, errors = validate(RegisterIn, {key: form.get(key, "") for key in ("email", "password", "name", "role")})
        if values is not None:
            outcome = attempt(request, services.user_register, **values, language=get_language())
            if outcome.ok:
                login(request, outcome.value, backend="django.contrib.auth.backends.ModelBackend")
                if values["role"] == Role.TUTOR:
                    # A tutor without a rate cannot be booked: the profile is the first thing to fill in.
                    messages.success(request, _("Welcome! Set your rate and subjects so students can book you."))
                    return redirect("profile")
                messages.success(request, _("Welcome! Your account is ready."))
                return redirect(_next_url(request))
            errors = outcome.field_errors
        status = 400
    context = {"form": form, "errors": errors, "next": _next_url(request)}
    return render(request, "pages/register.html", context, status=status)


def password_reset(request: HttpRequest) -> HttpResponse:
    """Ask for a reset link (`password_reset_request`, as POST /api/auth/password/reset, with its limits).
    The answer is the same whether or not an account has the address."""
    email, errors, status = "", {}, 200
    if request.method == "POST":
        email = request.POST.get("email", "").strip()
        values, errors = validate(PasswordResetIn, {"email": email})
        if values is not None:
            allowed = attempt(request, request_rate_check, request=request, limits=(PasswordResetRateLimit,)).ok and (
                attempt(request, reset_address_rate_check, email=values["email"]).ok
            )
            if allowed and attempt(request, services.password_reset_request, email=values["email"]).ok:
                messages.success(
                    request, _("If an account has this address, we have sent it a link to choose a new password.")
                )
                return redirect("password-reset")
        status = 400
    return render(request, "pages/password_reset.html", {"email": email, "errors": errors}, status=status)


def password_reset_confirm(request: HttpRequest, uid: str, token: str) -> HttpResponse:
    """Choose a new password from the emailed link (`password_reset_confirm`, as the API's confirm)."""
    errors, status = {}, 200
    if request.method == "POST":
        values, errors = validate(
            PasswordResetConfirmIn, {"uid": uid, "token": token, "password": request.POST.get("password", "")}
        )
        if values is not None:
            outcome = attempt(request, services.password_reset_confirm, **values)
            if outcome.ok:
                messages.success(request, _("Your password is changed. Log in with the new one."))
                return redirect("login")
            errors = outcome.field_errors
        status = 400
    return render(request, "pages/password_reset_confirm.html", {"errors": errors}, status=status)


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """The language switcher (Django's `set_language`); signed in, it is also the language of one's emails."""
    response = django_set_language(request)
    language = request.POST.get("language", "")
    if request.user.is_authenticated and check_for_language(language):
        attempt(request, services.user_language_set, user=request.user, language=language)
    return response


@page()
def receipt(request: HttpRequest, booking_id) -> HttpResponse:
    """The printable receipt of a paid booking, for its student (404 for anyone else)."""
    return render(
        request,
        "pages/receipt.html",
        {"receipt": found(payment_selectors.receipt_for_student, booking_id=booking_id, user=request.user)},
    )


@require_POST
@json_page
def access_token(request: HttpRequest) -> HttpResponse:
    """A short-lived access JWT for the signed-in user, for the pages' scripts (socket.io, the classroom's
    API calls). Session and CSRF protected, answered only to POST: the token never appears in a URL."""
    token = AccessToken.for_user(request.user)
    expires = datetime.fromtimestamp(token["exp"], tz=UTC)
    response = JsonResponse({"access": str(token), "expiresAt": expires.isoformat(timespec="seconds")})
    response["Cache-Control"] = "no-store"
    return response


# --- bookings -------------------------------------------------------------------------------------


@page()
def bookings(request: HttpRequest) -> HttpResponse:
    queryset = selectors.booking_list_for_user(user=request.user).select_related("tutor", "student", "review")
    rows, next_cursor = page_of(queryset, request)
    return render(request, "pages/bookings.html", {"bookings": rows, "next": next_cursor})


def _recording_url(session) -> str | None:
    return session and live_selectors.recording_link(recording=live_selectors.recording_get(session=session))


@page()
def booking(request: HttpRequest, booking_id) -> HttpResponse:
    item = found(selectors.booking_get_for_user, booking_id=booking_id, user=request.user)
    is_student = item.student_id == request.user.pk
    refunds = list(payment_selectors.refund_list_for_booking(booking=item))
    payment = payment_selectors.payment_for_booking(booking=item)
    # As the API reports it: an unpaid booking past its payment window is expired at once.
    status = item.current_status()
    pending = status == BookingStatus.PENDING_PAYMENT
    context = {
        "booking": item,
        "status": status,
        "other": item.tutor if is_student else item.student,
        "is_booking_student": is_student,
        "refunds": refunds,
        "session": (session := live_selectors.session_for_booking(booking=item)),
        # The class's recording, once ready: a short-lived signed link made for this page view.
        "recording_url": session
        and live_selectors.recording_link(recording=live_selectors.recording_get(session=session)),
        # What each party may try; the services decide (their refusals are shown as messages).
        "can_pay": is_student and pending,
        "payment": payment if is_student and pending else None,
        "payment_failed": payment is not None and payment.status == PaymentStatus.FAILED,
        "can_cancel": status in (BookingStatus.PENDING_PAYMENT, BookingStatus.PAID),
        "can_request_refund": is_student
        and status in (BookingStatus.PAID, BookingStatus.COMPLETED)
        and not any(r.status in (*OPEN_REFUND_STATUSES, RefundStatus.SUCCEEDED) for r in refunds),
        "can_join": status == BookingStatus.PAID,
        "review": market_selectors.review_for_booking(booking=item),
        "can_review": is_student and status == BookingStatus.COMPLETED,
        "has_receipt": is_student and payment is not None and payment.status == PaymentStatus.SUCCEEDED,
    }
    # Back from Stripe's confirmation: the webhook makes the booking paid in a moment.
    context["payment_returned"] = request.GET.get("redirect_status") == "succeeded" and pending
    if context["payment"] is not None and not settings.STRIPE_SANDBOX:
        context["stripe"] = {
            "publishableKey": settings.STRIPE_PUBLISHABLE_KEY,
            "clientSecret": payment.client_secret,
            "returnUrl": request.build_absolute_uri(reverse("booking", args=[item.pk])),
        }
        response = render(request, "pages/booking.html", context)
        response["Cache-Control"] = "no-store"
        return csp_allow(response, STRIPE_JS)
    return render(request, "pages/booking.html", context)


@require_POST
@page(role=Role.STUDENT)
def booking_pay(request: HttpRequest, booking_id) -> HttpResponse:
    """Step one of paying: the booking's PaymentIntent (`payment_intent_create`, as POST /api/payments/intents)."""
    attempt(request, payment_services.payment_intent_create, booking_id=booking_id, user=request.user)
    return redirect("booking", booking_id=booking_id)


@require_POST
@page(role=Role.STUDENT)
def booking_pay_sandbox(request: HttpRequest, booking_id) -> HttpResponse:
    """Step two in the sandbox: the stand-in for Stripe's card form (as POST /api/payments/sandbox/confirm)."""
    outcome = attempt(
        request,
        payment_sandbox_confirm,
        payment_intent_id=request.POST.get("paymentIntentId", ""),
        user=request.user,
        outcome="failed" if request.POST.get("outcome") == "failed" else "succeeded",
    )
    if outcome.ok:
        if outcome.value.status == PaymentStatus.SUCCEEDED:
            messages.success(request, _("Paid (sandbox). The class is confirmed."))
        else:
            messages.error(request, _("The sandbox card was declined. Nothing was charged."))
    return redirect("booking", booking_id=booking_id)


@require_POST
@page()
def booking_cancel(request: HttpRequest, booking_id) -> HttpResponse:
    if attempt(request, services.booking_cancel, booking_id=booking_id, user=request.user).ok:
        messages.success(request, _("The booking was cancelled."))
    return redirect("booking", booking_id=booking_id)


@require_POST
@page(role=Role.STUDENT)
def booking_refund(request: HttpRequest, booking_id) -> HttpResponse:
    values, errors = validate(RefundIn, {"bookingId": str(booking_id), "reason": request.POST.get("reason", "")})
    if values is None:
        for problems in errors.values():
            for problem in problems:
                messages.error(request, problem)
    elif attempt(
        request,
        payment_services.refund_request,
        booking_id=values["bookingId"],
        user=request.user,
        reason=values["reason"],
    ).ok:
        messages.success(request, _("Refund requested. Staff will review it."))
    return redirect("booking", booking_id=booking_id)


@require_POST
@page()
def booking_join(request: HttpRequest, booking_id) -> HttpResponse:
    """Open the booking's classroom (`session_create`, as POST /api/live/sessions) and go in."""
    outcome = attempt(request, live_services.session_create, booking_id=booking_id, user=request.user)
    if not outcome.ok:
        return redirect("booking", booking_id=booking_id)
    session, _created = outcome.value
    return redirect("classroom", session_id=session.pk)


# --- a tutor's own profile ------------------------------------------------------------------------


def _profile_form(profile) -> dict[str, str]:
    """The stored profile as the page's fields: the rate as people write it ("45.00"), subjects joined."""
    rate, currency = profile.hourly_rate, profile.currency
    return {
        "hourlyRate": "" if rate is None else f"{from_minor_units(rate, currency):.{minor_digits(currency)}f}",
        "currency": profile.currency,
        "subjects": ", ".join(subject.name for subject in profile.subjects.all()),
        "bio": profile.bio,
    }


def _profile_body(form, currency: str) -> tuple[dict, dict[str, list[str]]]:
    """The page's fields as `PATCH /api/tutors/me`'s body (the rate in minor units of `currency`)."""
    body: dict = {
        "currency": currency,
        "subjects": [name.strip() for name in re.split(r"[,;，、\n]", form.get("subjects", "")) if name.strip()],
        "bio": form.get("bio", ""),
        "hourlyRate": None,
    }
    typed = form.get("hourlyRate", "").strip()
    if typed:
        body["hourlyRate"] = to_minor_units(typed, currency)
        if body["hourlyRate"] is None:
            example = f"{45:.{minor_digits(currency)}f}" if minor_digits(currency) else "4500"
            problem = _("Write the rate as a number, for example %(example)s.") % {"example": example}
            return body, {"hourlyRate": [problem]}
    return body, {}


@page(role=Role.TUTOR)
def profile(request: HttpRequest) -> HttpResponse:
    """A tutor's rate, currency, subjects and bio, saved by `tutor_profile_update` as the API saves them."""
    current = found(selectors.tutor_get, tutor_id=request.user.pk)
    # Prices, earnings and withdrawals share the tutor's currency: it is frozen by the first booking.
    currency_frozen = Booking.objects.filter(tutor=request.user).exists()
    form, errors, status = _profile_form(current), {}, 200
    if request.method == "POST":
        form = request.POST
        currency = current.currency if currency_frozen else form.get("currency", "").strip().lower()
        body, errors = _profile_body(form, currency if currency in STRIPE_CURRENCIES else current.currency)
        body["currency"] = currency
        if not errors:
            values, errors = validate(TutorPatchIn, body)
            if values is not None:
                outcome = attempt(
                    request, services.tutor_profile_update, user=request.user, fields=set(values), **values
                )
                if outcome.ok:
                    messages.success(request, _("Your profile is saved."))
                    return redirect("profile")
                errors = outcome.field_errors
        status = 400
    context = {
        "form": form,
        "errors": errors,
        "currencies": sorted(STRIPE_CURRENCIES),
        "currency_frozen": currency_frozen,
        "profile_url": reverse("tutor", args=[request.user.pk]),
    }
    return render(request, "pages/profile.html", context, status=status)


urlpatterns = [
    path("", home, name="home"),
    path("tutors/<uuid:tutor_id>", tutor, name="tutor"),
    path("login", login_page, name="login"),
    path("logout", logout_page, name="logout"),
    path("register", register_page, name="register"),
    path("profile", profile, name="profile"),
    path("access-token", access_token, name="access-token"),
    path("bookings", bookings, name="bookings"),
    path("bookings/<uuid:booking_id>", booking, name="booking"),
    path("bookings/<uuid:booking_id>/pay", booking_pay, name="booking-pay"),
    path("bookings/<uuid:booking_id>/pay/sandbox", booking_pay_sandbox, name="booking-pay-sandbox"),
    path("bookings/<uuid:booking_id>/cancel", booking_cancel, name="booking-cancel"),
    path("bookings/<uuid:booking_id>/refund", booking_refund, name="booking-refund"),
    path("bookings/<uuid:booking_id>/join", booking_join, name="booking-join"),
    path("bookings/<uuid:booking_id>/receipt", receipt, name="booking-receipt"),
    path("password-reset", password_reset, name="password-reset"),
    path("password-reset/<str:uid>/<str:token>", password_reset_confirm, name="password-reset-confirm"),
    # Before django.conf.urls.i18n's own view of the same path: this one also remembers the choice.
    path("i18n/setlang/", set_language, name="set_language"),
]

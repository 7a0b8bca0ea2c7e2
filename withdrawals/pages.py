"""The tutor's earnings page (docs/pages.md "Earnings"): the figures of GET /api/withdrawals/stats, a
chart of earnings over time from the ledger, the payout account and its onboarding, the withdrawal
form and the history of withdrawals. Each form posts to a view that calls the service the API calls.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from payments.selectors import earnings_history, tutor_earnings
from tutoring.errors import NotFound
from tutoring.models import Role
from tutoring.money import from_minor_units, to_minor_units
from tutoring.web import STRIPE_ONBOARDING, attempt, csp_allow, page, page_of, validate
from withdrawals import selectors, services
from withdrawals.serializers import WithdrawalIn


def _account(user):
    try:
        return selectors.account_for_tutor(user=user)
    except NotFound:
        return None


@page(role=Role.TUTOR)
def earnings(request: HttpRequest) -> HttpResponse:
    stats = tutor_earnings(tutor_id=request.user.pk)
    currency = stats.currency
    history = earnings_history(tutor_id=request.user.pk, currency=currency)
    withdrawals, next_cursor = page_of(selectors.withdrawal_list_for_tutor(user=request.user), request)
    context = {
        "stats": stats,
        "currency": currency,
        "account": _account(request.user),
        "withdrawals": withdrawals,
        "next": next_cursor,
        "min_withdrawal": settings.MIN_WITHDRAWAL_AMOUNT,
        # Drawn by the page's script (uPlot): running totals in major units, one point per day.
        "chart": {
            "currency": currency.upper(),
            "labels": {"earned": _("Total earned"), "withdrawn": _("Withdrawn")},
            "days": [day.isoformat() for day, _earned, _withdrawn in history],
            "earned": [float(from_minor_units(earned, currency)) for _day, earned, _withdrawn in history],
            "withdrawn": [float(from_minor_units(withdrawn, currency)) for _day, _earned, withdrawn in history],
        },
    }
    response = render(request, "pages/earnings.html", context)
    return response if settings.STRIPE_SANDBOX else csp_allow(response, STRIPE_ONBOARDING)


@require_POST
@page(role=Role.TUTOR)
def account_create(request: HttpRequest) -> HttpResponse:
    outcome = attempt(request, services.account_create, user=request.user)
    if outcome.ok and outcome.value[1]:
        messages.success(request, _("Payout account created. Complete its onboarding to withdraw."))
    return redirect("earnings")


@require_POST
@page(role=Role.TUTOR)
def account_onboarding(request: HttpRequest) -> HttpResponse:
    """A fresh onboarding link (Stripe's hosted page, or the sandbox's), returning to this page."""
    outcome = attempt(
        request,
        services.account_link_create,
        user=request.user,
        return_url=request.build_absolute_uri(reverse("earnings")),
        request_host=request.get_host(),
    )
    return redirect(outcome.value if outcome.ok else "earnings")


@require_POST
@page(role=Role.TUTOR)
def withdraw(request: HttpRequest) -> HttpResponse:
    currency = request.user.tutor_profile.currency
    amount = to_minor_units(request.POST.get("amount", ""), currency)
    values, _problems = validate(WithdrawalIn, {"amount": amount})
    if values is None:
        messages.error(request, _("Enter an amount such as 25.00."))
    elif attempt(request, services.withdrawal_request, user=request.user, amount=values["amount"]).ok:
        messages.success(request, _("Withdrawal requested. Staff will review it."))
    return redirect("earnings")


urlpatterns = [
    path("earnings", earnings, name="earnings"),
    path("earnings/account", account_create, name="earnings-account"),
    path("earnings/account/onboarding", account_onboarding, name="earnings-onboarding"),
    path("earnings/withdraw", withdraw, name="earnings-withdraw"),
]

"""Template helpers of the pages: money, times in the viewer's time zone, status words."""

from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tutoring.money import from_minor_units, minor_digits

register = template.Library()

SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "cny": "¥", "jpy": "¥", "hkd": "HK$", "cad": "CA$", "aud": "A$"}

# Status words of bookings, refunds, withdrawals, payout accounts and classes, and how they look.
STATUSES = {
    "pending_payment": (_("Awaiting payment"), "warn"),
    "paid": (pgettext_lazy("status", "Paid"), "good"),
    "completed": (_("Completed"), "done"),
    "cancelled": (_("Cancelled"), "off"),
    "refunded": (_("Refunded"), "off"),
    "expired": (_("Expired"), "off"),
    "missed": (_("Missed"), "bad"),
    "pending": (_("Pending review"), "warn"),
    "approved": (_("Approved"), "good"),
    "succeeded": (_("Succeeded"), "done"),
    "failed": (_("Failed"), "bad"),
    "rejected": (_("Rejected"), "bad"),
    "pending_verification": (_("Verification pending"), "warn"),
    "verified": (_("Verified"), "good"),
    "created": (_("Not started"), "warn"),
    "active": (_("In progress"), "good"),
}


@register.filter
def money(amount: int | None, currency: str = "usd") -> str:
    """Minor units as people write them: 4000, "usd" → "$40.00"; unknown symbols keep the code."""
    if amount is None:
        return "—"
    currency = (currency or "usd").lower()
    value = f"{from_minor_units(amount, currency):,.{minor_digits(currency)}f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{value}" if symbol else f"{value} {currency.upper()}"


@register.filter
def status_label(status: str) -> str:
    return STATUSES.get(status, (status, ""))[0]


@register.filter
def status_tone(status: str) -> str:
    return STATUSES.get(status, ("", "off"))[1]


@register.simple_tag
def when(value: datetime | None, style: str = "datetime"):
    """A `<time>` the page's script shows in the viewer's time zone and language (UTC until it runs)."""
    if value is None:
        return ""
    utc = value.astimezone(UTC)
    fallback = utc.strftime("%Y-%m-%d" if style == "date" else "%Y-%m-%d %H:%M UTC")
    return format_html('<time datetime="{}" data-local="{}">{}</time>', utc.isoformat(), style, fallback)

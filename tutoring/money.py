"""Integer money (minor units, never floats) and the currencies the product accepts (docs/money.md).

Amounts are counted as Stripe counts them: in the currency's minor unit, which for a zero-decimal
currency is the whole unit (1 means ¥1). Stripe asks three-decimal currencies for amounts that are
multiples of 10, so those are priced and moved in steps of 10.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# Stripe's presentment currencies (lowercase ISO 4217), as its "Supported currencies" page lists them.
STRIPE_CURRENCIES = frozenset(
    {
        "usd",
        "aed",
        "afn",
        "all",
        "amd",
        "ang",
        "aoa",
        "ars",
        "aud",
        "awg",
        "azn",
        "bam",
        "bbd",
        "bdt",
        "bgn",
        "bhd",
        "bif",
        "bmd",
        "bnd",
        "bob",
        "brl",
        "bsd",
        "bwp",
        "byn",
        "bzd",
        "cad",
        "cdf",
        "chf",
        "clp",
        "cny",
        "cop",
        "crc",
        "cve",
        "czk",
        "djf",
        "dkk",
        "dop",
        "dzd",
        "egp",
        "etb",
        "eur",
        "fjd",
        "fkp",
        "gbp",
        "gel",
        "gip",
        "gmd",
        "gnf",
        "gtq",
        "gyd",
        "hkd",
        "hnl",
        "htg",
        "huf",
        "idr",
        "ils",
        "inr",
        "isk",
        "jmd",
        "jod",
        "jpy",
        "kes",
        "kgs",
        "khr",
        "kmf",
        "krw",
        "kwd",
        "kyd",
        "kzt",
        "lak",
        "lbp",
        "lkr",
        "lrd",
        "lsl",
        "mad",
        "mdl",
        "mga",
        "mkd",
        "mmk",
        "mnt",
        "mop",
        "mur",
        "mvr",
        "mwk",
        "mxn",
        "myr",
        "mzn",
        "nad",
        "ngn",
        "nio",
        "nok",
        "npr",
        "nzd",
        "omr",
        "pab",
        "pen",
        "pgk",
        "php",
        "pkr",
        "pln",
        "pyg",
        "qar",
        "ron",
        "rsd",
        "rub",
        "rwf",
        "sar",
        "sbd",
        "scr",
        "sek",
        "sgd",
        "shp",
        "sle",
        "sos",
        "srd",
        "std",
        "szl",
        "thb",
        "tjs",
        "tnd",
        "top",
        "try",
        "ttd",
        "twd",
        "tzs",
        "uah",
        "ugx",
        "uyu",
        "uzs",
        "vnd",
        "vuv",
        "wst",
        "xaf",
        "xcd",
        "xof",
        "xpf",
        "yer",
        "zar",
        "zmw",
    }
)
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})


def is_supported_currency(code: object) -> bool:
    return isinstance(code, str) and code in STRIPE_CURRENCIES


def amount_step(currency: str) -> int:
    """The smallest amount Stripe moves in `currency`, in minor units (10 for three-decimal currencies)."""
    return 10 if currency in THREE_DECIMAL else 1


def round_half_up_div(numerator: int, denominator: int) -> int:
    """round_half_up(numerator / denominator) for non-negative integers, exactly."""
    return (2 * numerator + denominator) // (2 * denominator)


def to_step(amount: int, currency: str) -> int:
    """`amount` rounded half up to the currency's step (unchanged for every currency but three-decimal ones)."""
    step = amount_step(currency)
    return round_half_up_div(amount, step) * step


def minor_digits(currency: str) -> int:
    """How many decimals a currency's amounts have when written for people (0 for ¥, 3 for KWD)."""
    currency = currency.lower()
    return 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2


def to_minor_units(value: str, currency: str) -> int | None:
    """A decimal amount as typed by a person ("12.50") in minor units (1250), or None if it is not one."""
    try:
        amount = Decimal(value.strip()).scaleb(minor_digits(currency))
    except (InvalidOperation, AttributeError):
        return None
    if not amount.is_finite() or amount != amount.to_integral_value():
        return None
    return int(amount)


def from_minor_units(amount: int, currency: str) -> Decimal:
    return Decimal(amount).scaleb(-minor_digits(currency))

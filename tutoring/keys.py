"""Refuse signing keys an attacker could guess: shipped placeholders, development values, low entropy.

Used by the settings (no Django import here): with `DJANGO_DEBUG=0` the process will not start with a
`DJANGO_SECRET_KEY` (or `JWT_SIGNING_KEY`, if set) that fails these checks, because JWTs, sessions and
password-reset links are all signed with it.
"""

from __future__ import annotations

import math
from collections import Counter

GENERATE_HINT = "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"

# Values that have been shipped or documented somewhere: never secret.
KNOWN_PLACEHOLDERS = frozenset(
    {
        "dev-insecure-only-for-local-runs",
        "change-me-to-50-random-characters",
        "changeme",
        "change-me",
        "secret",
        "secret-key",
        "your-secret-key",
    }
)
PLACEHOLDER_MARKERS = ("change-me", "changeme", "change_me", "django-insecure", "replace-me", "placeholder", "example")

MIN_LENGTH = 50
# Estimated from the key's own character frequencies (Shannon entropy × length). A key from the hint
# above scores about 370 bits, Django's get_random_secret_key() about 245 (never under 205 in 20,000
# tries), `openssl rand -hex 32` about 250; a repeated or patterned string scores far less.
MIN_ENTROPY_BITS = 180


def estimated_entropy_bits(value: str) -> float:
    if not value:
        return 0.0
    counts = Counter(value)
    n = len(value)
    per_char = -sum(c / n * math.log2(c / n) for c in counts.values())
    return per_char * n


def key_problem(value: str) -> str | None:
    """Why `value` must not sign anything in production, or None when it looks random enough."""
    lowered = value.strip().lower()
    if lowered in KNOWN_PLACEHOLDERS or any(marker in lowered for marker in PLACEHOLDER_MARKERS):
        return "is a known placeholder or development value"
    if len(value) < MIN_LENGTH:
        return f"is shorter than {MIN_LENGTH} characters"
    if estimated_entropy_bits(value) < MIN_ENTROPY_BITS:
        return "is not random enough (too few distinct characters or a repeated pattern)"
    return None

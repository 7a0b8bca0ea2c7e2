"""The sandbox's stand-in for Stripe's hosted onboarding of payout accounts (offline mode only).

The onboarding link of `SandboxStripe.create_account_link` opens a page on this site; its button sends
the signed `account.updated` (verified) that Stripe would send, through the one webhook handler.
"""

from __future__ import annotations

from django.core import signing
from django.utils.translation import gettext, gettext_lazy

from payments.stripe import get_provider
from payments.stripe.sandbox import ONBOARDING_SALT, account_snapshot, deliver
from tutoring.errors import NotFound
from withdrawals.models import ConnectedAccount

INVALID_LINK = gettext_lazy("This onboarding link is no longer valid.")


def account_sandbox_onboarding(*, token: str) -> tuple[str, str]:
    """The (account id, return URL) a sandbox onboarding link was made for; 404 with real Stripe keys."""
    if not get_provider().sandbox:
        raise NotFound(gettext("Not found."))
    try:
        payload = signing.loads(token, salt=ONBOARDING_SALT, max_age=24 * 3600)
    except signing.BadSignature as exc:
        raise NotFound(INVALID_LINK) from exc
    if not ConnectedAccount.objects.filter(provider_id=payload["account"]).exists():
        raise NotFound(INVALID_LINK)
    return payload["account"], payload["return"]


def account_sandbox_complete(*, account_id: str) -> None:
    """The tutor finished onboarding; Stripe would now send `account.updated` (verified)."""
    account = ConnectedAccount.objects.get(provider_id=account_id)
    deliver(
        "account.updated", account_snapshot(account_id, verified=True, metadata={"tutor_id": str(account.tutor_id)})
    )

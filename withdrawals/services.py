"""Every write of withdrawals: payout accounts, withdrawal requests and their staff review (docs/money.md)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from notifications import services as notifications
from notifications.models import NotificationKind
from payments import ledger
from payments.selectors import tutor_earnings
from payments.services import earnings_release_due
from payments.snapshots import lock_for_snapshot
from payments.stripe import AccountResult, get_provider
from tutoring.access import require_role
from tutoring.decisions import decide, lock_pending, rejection_note
from tutoring.errors import ApplicationError, Conflict, NotFound, ProviderError
from tutoring.models import Role, TutorProfile, User
from tutoring.money import amount_step
from withdrawals.models import AccountStatus, ConnectedAccount, Withdrawal, WithdrawalStatus

logger = logging.getLogger(__name__)

REFRESH_SALT = "onboarding-refresh"


def _require_tutor(user: User) -> None:
    require_role(user, Role.TUTOR, gettext("Only tutors have payout accounts and withdrawals."))


def _lock_tutor(user: User) -> TutorProfile:
    """The tutor's row lock: every request that moves a tutor's money is serialised on it."""
    profile, _ = TutorProfile.objects.select_for_update().get_or_create(user=user)
    return profile


def account_status_from(result: AccountResult) -> str:
    """verified once payouts are enabled and transfers active; rejected once Stripe rejects the account."""
    if result.disabled_reason.startswith("rejected"):
        return AccountStatus.REJECTED
    if result.payouts_enabled and result.transfers_active:
        return AccountStatus.VERIFIED
    return AccountStatus.PENDING_VERIFICATION


def account_create(*, user: User) -> tuple[ConnectedAccount, bool]:
    """The tutor's Connect account: created once (True), then returned as it is (False)."""
    _require_tutor(user)
    with transaction.atomic():
        _lock_tutor(user)
        existing = ConnectedAccount.objects.filter(tutor=user).first()
        if existing is not None:
            return existing, False
        result = get_provider().create_account(
            email=user.email, metadata={"tutor_id": str(user.pk)}, idempotency_key=f"account-create-{user.pk}"
        )
        account = ConnectedAccount.objects.create(
            tutor=user,
            provider_id=result.id,
            status=account_status_from(result),
            payouts_enabled=result.payouts_enabled,
            transfers_active=result.transfers_active,
            disabled_reason=result.disabled_reason,
        )
        return account, True


def return_url_allowed(url: str, *, request_host: str) -> bool:
    """An absolute http(s) URL on this site or a host listed in RETURN_URL_HOSTS (no open redirect)."""
    if not isinstance(url, str) or any(c.isspace() or ord(c) < 32 or c == "\\" for c in url):
        return False
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return False
    allowed = {h.lower() for h in settings.RETURN_URL_HOSTS}
    allowed.add((urlsplit(settings.SITE_URL).hostname or "").lower())
    allowed.add(request_host.lower().rsplit(":", 1)[0] if request_host else "")
    host = parts.hostname.lower()
    return host in allowed or (port is not None and f"{host}:{port}" in allowed)


def account_link_create(*, user: User, return_url: str, request_host: str) -> str:
    """A fresh onboarding link for the tutor's account; Stripe sends the tutor to `return_url` after."""
    _require_tutor(user)
    if not return_url_allowed(return_url, request_host=request_host):
        raise ApplicationError(
            gettext("returnUrl must be an absolute http(s) URL on this site or an allowed host."),
            errors={"returnUrl": [gettext("Not an allowed return URL.")]},
        )
    account = ConnectedAccount.objects.filter(tutor=user).first()
    if account is None:
        raise NotFound(gettext("No payout account yet; create one first."))
    return _onboarding_link(account, return_url)


def _onboarding_link(account: ConnectedAccount, return_url: str) -> str:
    token = signing.dumps({"account": account.provider_id, "return": return_url}, salt=REFRESH_SALT)
    refresh_url = f"{settings.SITE_URL}{reverse('onboarding-refresh', args=[token])}"
    return get_provider().create_account_link(
        account_id=account.provider_id, refresh_url=refresh_url, return_url=return_url
    )


def account_link_refresh(*, token: str) -> str:
    """Stripe's refresh_url: the old link expired, so make a new one for the same account and return URL.

    The token is signed by us and names one account, so this needs no login and opens nothing else.
    """
    try:
        payload = signing.loads(token, salt=REFRESH_SALT, max_age=7 * 24 * 3600)
    except signing.BadSignature as exc:
        raise NotFound(gettext("This onboarding link is no longer valid.")) from exc
    account = ConnectedAccount.objects.filter(provider_id=payload["account"]).first()
    if account is None:
        raise NotFound(gettext("This onboarding link is no longer valid."))
    return _onboarding_link(account, payload["return"])


def account_apply_snapshot(*, account_object: dict, event_created: int) -> str:
    """`account.updated`: keep our status in step with Stripe's, ignoring older snapshots."""
    from payments.stripe.real import account_result

    with transaction.atomic():
        account = lock_for_snapshot(
            ConnectedAccount.objects, [Q(provider_id=account_object.get("id"))], created=event_created, what="account"
        )
        result = account_result(account_object)
        account.status = account_status_from(result)
        account.payouts_enabled = result.payouts_enabled
        account.transfers_active = result.transfers_active
        account.disabled_reason = result.disabled_reason[:100]
        account.save()
        return f"account {account.status}"


def account_apply_payout(*, account_id: str, payout: dict, event_created: int) -> str:
    """`payout.paid`/`payout.failed` on a connected account: shown to staff, no ledger movement
    (the money left the platform with the transfer; the payout moves it from Stripe to the bank)."""
    with transaction.atomic():
        account = lock_for_snapshot(
            ConnectedAccount.objects,
            [Q(provider_id=account_id)],
            created=event_created,
            what="account",
            watermark="last_payout_event_created",
        )
        account.last_payout_id = payout.get("id", "")[:255]
        account.last_payout_status = (payout.get("status") or "")[:32]
        account.last_payout_failure = (payout.get("failure_message") or payout.get("failure_code") or "")[:200]
        account.save()
        return f"payout {account.last_payout_status}"


# --- withdrawals ---------------------------------------------------------------------------------


def withdrawal_request(*, user: User, amount: int) -> Withdrawal:
    """Hold `amount` of the tutor's balance for a withdrawal that staff will review.

    The balance check and the hold are one transaction under the tutor's row lock, so concurrent
    requests are serialised and each sees the holds of those before it: the balance never goes negative.
    Shares whose earnings hold is over are released first, whether or not the job has run. The money
    is the tutor's currency's, and so is the withdrawal.
    """
    _require_tutor(user)
    if amount < settings.MIN_WITHDRAWAL_AMOUNT:
        raise ApplicationError(
            gettext("amount must be at least %(min)s.") % {"min": settings.MIN_WITHDRAWAL_AMOUNT},
            errors={"amount": [gettext("At least %(min)s.") % {"min": settings.MIN_WITHDRAWAL_AMOUNT}]},
        )
    with transaction.atomic():
        _lock_tutor(user)
        account = ConnectedAccount.objects.filter(tutor=user).first()
        if account is None or account.status != AccountStatus.VERIFIED:
            raise Conflict(gettext("A verified payout account is required before withdrawing."))
        earnings_release_due(now=timezone.now(), tutor_id=user.pk)
        earnings = tutor_earnings(tutor_id=user.pk)
        step = amount_step(earnings.currency)
        if amount % step:
            raise ApplicationError(
                gettext("amount must be a multiple of %(step)s in %(currency)s.")
                % {"step": step, "currency": earnings.currency},
                errors={"amount": [gettext("A multiple of %(step)s.") % {"step": step}]},
            )
        if amount > earnings.balance:
            raise ApplicationError(
                gettext("amount exceeds the available balance (%(balance)s).") % {"balance": earnings.balance},
                errors={"amount": [gettext("At most %(balance)s.") % {"balance": earnings.balance}]},
            )
        withdrawal = Withdrawal.objects.create(tutor=user, account=account, amount=amount, currency=earnings.currency)
        ledger.record_withdrawal_requested(withdrawal=withdrawal)
        return withdrawal


def withdrawal_approve(*, withdrawal_id, staff: User, note: str = "") -> Withdrawal:
    """Approve and transfer the money to the tutor's account (idempotency key from the withdrawal id).

    A created transfer makes it `paid`. If Stripe refuses the transfer, nothing left the platform: it
    is `failed` and the money returns to the balance. If the outcome is unknown (timeout, 5xx) the
    transaction rolls back and the withdrawal stays `pending` with the money held; approving again
    repeats the same idempotent request, so at most one transfer ever exists.
    """
    with transaction.atomic():
        withdrawal = lock_pending(
            Withdrawal.objects.select_related("account"), withdrawal_id, staff=staff, what="withdrawal"
        )
        decide(withdrawal, staff=staff, status=WithdrawalStatus.APPROVED, note=note)
        try:
            transfer = get_provider().create_transfer(
                amount=withdrawal.amount,
                currency=withdrawal.currency,
                destination=withdrawal.account.provider_id,
                transfer_group=f"withdrawal_{withdrawal.pk}",
                metadata={"withdrawal_id": str(withdrawal.pk), "tutor_id": str(withdrawal.tutor_id)},
                idempotency_key=f"withdrawal-{withdrawal.pk}",
            )
        except ProviderError as exc:
            if not exc.refused:
                raise
            withdrawal.status = WithdrawalStatus.FAILED
            withdrawal.failure_reason = exc.reason or "transfer refused"
            withdrawal.save()
            ledger.record_withdrawal_released(withdrawal=withdrawal)
            _notify_decided(withdrawal)
            return withdrawal
        withdrawal.status = WithdrawalStatus.PAID
        withdrawal.transfer_id = transfer.id
        withdrawal.save()
        ledger.record_withdrawal_paid(withdrawal=withdrawal)
        _notify_decided(withdrawal)
    return withdrawal


def withdrawal_reject(*, withdrawal_id, staff: User, note: str) -> Withdrawal:
    note = rejection_note(note, what="withdrawal")
    with transaction.atomic():
        withdrawal = lock_pending(Withdrawal.objects, withdrawal_id, staff=staff, what="withdrawal")
        decide(withdrawal, staff=staff, status=WithdrawalStatus.REJECTED, note=note)
        withdrawal.save()
        ledger.record_withdrawal_released(withdrawal=withdrawal)
        _notify_decided(withdrawal)
    return withdrawal


def _notify_decided(withdrawal: Withdrawal) -> None:
    """The tutor hears of the decision on their withdrawal (paid, failed or rejected), once."""
    notifications.notify(
        kind=NotificationKind.WITHDRAWAL_DECIDED,
        recipients=[withdrawal.tutor],
        subject_id=withdrawal.pk,
        data={
            "status": withdrawal.status,
            "amount": withdrawal.amount,
            "currency": withdrawal.currency,
            "note": withdrawal.decision_note,
        },
    )


def withdrawal_apply_reversal(*, transfer: dict, event_created: int) -> str:
    """`transfer.reversed`: the money came back, so a paid withdrawal fails and the balance is restored."""
    with transaction.atomic():
        withdrawal = lock_for_snapshot(
            Withdrawal.objects, [Q(transfer_id=transfer.get("id"))], created=event_created, what="transfer"
        )
        if withdrawal.status != WithdrawalStatus.PAID:
            withdrawal.save(update_fields=["last_event_created", "updated_at"])
            return f"ignored: withdrawal is {withdrawal.status}"
        if (transfer.get("amount_reversed") or 0) < withdrawal.amount:
            # Only part came back: staff reconcile it; the ledger moves for whole reversals only.
            logger.error("partial reversal of transfer %s for withdrawal %s", transfer.get("id"), withdrawal.pk)
            withdrawal.save(update_fields=["last_event_created", "updated_at"])
            return "ignored: partial reversal"
        withdrawal.status = WithdrawalStatus.FAILED
        withdrawal.failure_reason = "transfer reversed"
        withdrawal.save()
        ledger.record_withdrawal_reversed(withdrawal=withdrawal)
        return "withdrawal failed: transfer reversed"

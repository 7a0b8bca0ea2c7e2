"""Stripe through the official SDK (`stripe.StripeClient`)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from stripe import InvalidRequestError, RequestsClient, StripeClient, StripeError

from payments.stripe import AccountResult, IntentResult, RefundResult, TransferResult
from tutoring.errors import ProviderError

logger = logging.getLogger(__name__)


# Stripe answered that it will not do this request: nothing was created at Stripe.
REFUSED_STATUSES = frozenset({400, 402, 403, 404})


def _provider_error(what: str, exc: StripeError) -> ProviderError:
    # The client sees a safe 502; what Stripe said goes to the log only.
    logger.warning(
        "stripe %s failed: %s (http %s, code %s, request %s): %s",
        what,
        type(exc).__name__,
        exc.http_status,
        exc.code,
        exc.request_id,
        exc.user_message or exc,
    )
    return ProviderError(
        provider="stripe", refused=exc.http_status in REFUSED_STATUSES, reason=(exc.code or type(exc).__name__)[:100]
    )


@contextlib.contextmanager
def _mapped(what: str) -> Iterator[None]:
    try:
        yield
    except StripeError as exc:
        raise _provider_error(what, exc) from exc


class RealStripe:
    sandbox = False

    def __init__(self, *, secret_key: str, api_base: str = "", timeout: float = 20.0):
        base_addresses = {"api": api_base, "connect": api_base} if api_base else None
        # No SDK retries: every call carries an idempotency key derived from our ids, so a client that
        # got a 502 can simply try again without risking a second charge, refund or transfer.
        self.client = StripeClient(
            secret_key,
            base_addresses=base_addresses,
            max_network_retries=0,
            http_client=RequestsClient(timeout=timeout),
        )

    def create_payment_intent(
        self, *, amount: int, currency: str, metadata: dict[str, str], transfer_group: str, idempotency_key: str
    ) -> IntentResult:
        with _mapped("payment_intents.create"):
            intent = self.client.v1.payment_intents.create(
                params={
                    "amount": amount,
                    "currency": currency,
                    "metadata": metadata,
                    "transfer_group": transfer_group,
                    "automatic_payment_methods": {"enabled": True},
                },
                options={"idempotency_key": idempotency_key},
            )
        return IntentResult(id=intent.id, client_secret=intent.client_secret, status=intent.status)

    def cancel_payment_intent(self, *, payment_intent_id: str, idempotency_key: str) -> str:
        """Cancel the intent; returns its status afterwards (`canceled`, or e.g. `succeeded` if too late)."""
        try:
            intent = self.client.v1.payment_intents.cancel(
                payment_intent_id, options={"idempotency_key": idempotency_key}
            )
        except InvalidRequestError as exc:
            if exc.code != "payment_intent_unexpected_state":
                raise _provider_error("payment_intents.cancel", exc) from exc
            with _mapped("payment_intents.retrieve"):
                intent = self.client.v1.payment_intents.retrieve(payment_intent_id)
        except StripeError as exc:
            raise _provider_error("payment_intents.cancel", exc) from exc
        return intent.status

    def create_refund(
        self, *, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> RefundResult:
        with _mapped("refunds.create"):
            refund = self.client.v1.refunds.create(
                params={"payment_intent": payment_intent_id, "amount": amount, "metadata": metadata},
                options={"idempotency_key": idempotency_key},
            )
        return RefundResult(
            id=refund.id, status=refund.status, failure_reason=refund.to_dict().get("failure_reason") or ""
        )

    def create_account(self, *, email: str, metadata: dict[str, str], idempotency_key: str) -> AccountResult:
        """An Express-style connected account (Stripe hosts onboarding and its dashboard) for transfers."""
        with _mapped("accounts.create"):
            account = self.client.v1.accounts.create(
                params={
                    "controller": {
                        "stripe_dashboard": {"type": "express"},
                        "fees": {"payer": "application"},
                        "losses": {"payments": "application"},
                        "requirement_collection": "stripe",
                    },
                    "capabilities": {"transfers": {"requested": True}},
                    "email": email,
                    "metadata": metadata,
                },
                options={"idempotency_key": idempotency_key},
            )
        return account_result(account.to_dict())

    def create_account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        with _mapped("account_links.create"):
            link = self.client.v1.account_links.create(
                params={
                    "account": account_id,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                }
            )
        return link.url

    def create_transfer(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        transfer_group: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> TransferResult:
        with _mapped("transfers.create"):
            transfer = self.client.v1.transfers.create(
                params={
                    "amount": amount,
                    "currency": currency,
                    "destination": destination,
                    "transfer_group": transfer_group,
                    "metadata": metadata,
                },
                options={"idempotency_key": idempotency_key},
            )
        return TransferResult(id=transfer.id)


def account_result(account: dict) -> AccountResult:
    """Our view of a Stripe Account object (an API answer or an `account.updated` snapshot)."""
    capabilities = account.get("capabilities") or {}
    requirements = account.get("requirements") or {}
    return AccountResult(
        id=account["id"],
        payouts_enabled=bool(account.get("payouts_enabled")),
        transfers_active=capabilities.get("transfers") == "active",
        disabled_reason=requirements.get("disabled_reason") or "",
    )

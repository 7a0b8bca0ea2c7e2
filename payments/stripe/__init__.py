"""The payments provider: one small interface, a real implementation on the official SDK and a sandbox.

`get_provider()` returns the real Stripe provider when `STRIPE_SECRET_KEY` is set, else the offline
sandbox, which keeps Stripe's id formats and delivers its events as signed webhooks through the same
handler as Stripe's. Services talk only to this interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from django.conf import settings


@dataclass(frozen=True)
class IntentResult:
    id: str
    client_secret: str
    status: str


@dataclass(frozen=True)
class RefundResult:
    id: str
    status: str
    failure_reason: str = ""


@dataclass(frozen=True)
class AccountResult:
    id: str
    payouts_enabled: bool
    transfers_active: bool
    disabled_reason: str = ""


@dataclass(frozen=True)
class TransferResult:
    id: str


class PaymentsProvider(Protocol):
    sandbox: bool

    def create_payment_intent(
        self, *, amount: int, currency: str, metadata: dict[str, str], transfer_group: str, idempotency_key: str
    ) -> IntentResult: ...

    def cancel_payment_intent(self, *, payment_intent_id: str, idempotency_key: str) -> str: ...

    def create_refund(
        self, *, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> RefundResult: ...

    def create_account(self, *, email: str, metadata: dict[str, str], idempotency_key: str) -> AccountResult: ...

    def create_account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str: ...

    def create_transfer(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        transfer_group: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> TransferResult: ...


@lru_cache(maxsize=4)
def _provider(secret_key: str, api_base: str, timeout: float) -> PaymentsProvider:
    if not secret_key:
        from payments.stripe.sandbox import SandboxStripe

        return SandboxStripe()
    from payments.stripe.real import RealStripe

    return RealStripe(secret_key=secret_key, api_base=api_base, timeout=timeout)


def get_provider() -> PaymentsProvider:
    return _provider(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE, settings.STRIPE_TIMEOUT_SECONDS)

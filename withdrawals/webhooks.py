"""Stripe events about payout accounts and transfers, registered in the one webhook dispatch table."""

from payments.webhooks import handles
from withdrawals import services


@handles("account.updated")
def _account_updated(account: dict, created: int, event: dict) -> str:
    return services.account_apply_snapshot(account_object=account, event_created=created)


@handles("transfer.reversed")
def _transfer_reversed(transfer: dict, created: int, event: dict) -> str:
    return services.withdrawal_apply_reversal(transfer=transfer, event_created=created)


@handles("payout.paid", "payout.failed")
def _payout(payout: dict, created: int, event: dict) -> str:
    # Payout events come from the connected account; the event names it, the payout does not.
    return services.account_apply_payout(account_id=event.get("account") or "", payout=payout, event_created=created)

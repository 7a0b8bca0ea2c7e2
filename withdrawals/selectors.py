"""Reads of withdrawals."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext

from tutoring.errors import NotFound
from tutoring.models import User
from withdrawals.models import ConnectedAccount, Withdrawal


def account_for_tutor(*, user: User) -> ConnectedAccount:
    account = ConnectedAccount.objects.filter(tutor=user).first()
    if account is None:
        raise NotFound(gettext("No payout account yet."))
    return account


def withdrawal_list_for_tutor(*, user: User) -> QuerySet[Withdrawal]:
    return Withdrawal.objects.filter(tutor=user)

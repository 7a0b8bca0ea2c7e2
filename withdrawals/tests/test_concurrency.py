"""Concurrent withdrawal requests can never overdraw (PostgreSQL, real threads and connections)."""

import pytest
from rest_framework.test import APIClient

from payments import ledger
from payments.selectors import tutor_earnings
from tutoring.tests.utils import bearer, run_concurrently
from withdrawals.models import Withdrawal
from withdrawals.tests.factories import tutor_with_balance

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_twelve_requests_of_2000_against_15300():
    tutor = tutor_with_balance(minutes=180)  # 18000 → share 15300
    assert tutor_earnings(tutor_id=tutor.pk).balance == 15300

    def request(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=bearer(tutor))
        return client.post("/api/withdrawals", {"amount": 2000}, format="json").status_code

    codes = run_concurrently(request, 12)
    assert sorted(codes) == [201] * 7 + [400] * 5
    assert Withdrawal.objects.filter(tutor=tutor).count() == 7
    assert tutor_earnings(tutor_id=tutor.pk).balance == 1300
    assert ledger.verify_balances(tutor_id=tutor.pk) == []

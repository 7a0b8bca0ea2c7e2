"""The API's withdrawal resources (docs/api.md "Withdrawals"): the payout account and withdrawals; plus
the onboarding pages (the sandbox's onboarding, Stripe's refresh URL)."""

from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from payments.selectors import tutor_earnings
from tutoring.api.pagination import PAGE_PARAMS, page_response, paginate
from tutoring.api.permissions import IsStaff, IsTutor
from tutoring.api.ratelimit import PAYMENT_THROTTLES
from tutoring.api.validation import validated
from tutoring.api.viewsets import ApiViewSet
from tutoring.errors import ApplicationError
from withdrawals import sandbox, selectors, services
from withdrawals.serializers import (
    AccountDetailOut,
    AccountOut,
    ApproveIn,
    LinkIn,
    LinkOut,
    RejectIn,
    StatsOut,
    WithdrawalIn,
    WithdrawalListOut,
    WithdrawalOut,
)


# The tutor's one payout account (a Stripe Connect account) and its onboarding links.
class WithdrawalAccountViewSet(ApiViewSet):
    singleton = True
    permissions = {"create": (IsTutor,), "retrieve": (IsTutor,), "links": (IsTutor,)}

    @extend_schema(request=None, responses={200: AccountOut, 201: AccountOut}, tags=["withdrawals"])
    def create(self, request):
        account, created = services.account_create(user=request.user)
        return Response(AccountOut(account).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(responses=AccountDetailOut, tags=["withdrawals"])
    def retrieve(self, request):
        return Response(AccountDetailOut(selectors.account_for_tutor(user=request.user)).data)

    @extend_schema(request=LinkIn, responses=LinkOut, tags=["withdrawals"])
    @action(detail=False, methods=["post"])
    def links(self, request):
        url = services.account_link_create(
            user=request.user, return_url=validated(LinkIn, request)["returnUrl"], request_host=request.get_host()
        )
        return Response({"url": url})


class WithdrawalViewSet(ApiViewSet):
    lookup_url_kwarg = "withdrawal_id"
    permissions = {
        "list": (IsTutor,),
        "create": (IsTutor,),
        "stats": (IsTutor,),
        "approve": (IsStaff,),
        "reject": (IsStaff,),
    }
    throttles = {"create": PAYMENT_THROTTLES}

    @extend_schema(request=WithdrawalIn, responses={201: WithdrawalOut}, tags=["withdrawals"])
    def create(self, request):
        withdrawal = services.withdrawal_request(user=request.user, amount=validated(WithdrawalIn, request)["amount"])
        return Response(WithdrawalOut(withdrawal).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=PAGE_PARAMS, responses=WithdrawalListOut, tags=["withdrawals"], operation_id="withdrawals_list"
    )
    def list(self, request):
        rows, next_cursor = paginate(selectors.withdrawal_list_for_tutor(user=request.user), request.query_params)
        return Response(page_response("withdrawals", rows, next_cursor, WithdrawalOut))

    @extend_schema(request=ApproveIn, responses=WithdrawalOut, tags=["withdrawals"])
    @action(detail=True, methods=["post"])
    def approve(self, request, withdrawal_id):
        withdrawal = services.withdrawal_approve(
            withdrawal_id=withdrawal_id, staff=request.user, note=validated(ApproveIn, request)["note"]
        )
        return Response(WithdrawalOut(withdrawal).data)

    @extend_schema(request=RejectIn, responses=WithdrawalOut, tags=["withdrawals"])
    @action(detail=True, methods=["post"])
    def reject(self, request, withdrawal_id):
        withdrawal = services.withdrawal_reject(
            withdrawal_id=withdrawal_id, staff=request.user, note=validated(RejectIn, request)["note"]
        )
        return Response(WithdrawalOut(withdrawal).data)

    @extend_schema(responses=StatsOut, tags=["withdrawals"])
    @action(detail=False, methods=["get"])
    def stats(self, request):
        return Response(StatsOut(tutor_earnings(tutor_id=request.user.pk)).data)


# --- pages ----------------------------------------------------------------------------------------


def onboarding_refresh(request, token):
    """Stripe's `refresh_url`: a new onboarding link for the same account, then straight there."""
    try:
        return HttpResponseRedirect(services.account_link_refresh(token=token))
    except ApplicationError as exc:
        raise Http404(exc.message) from exc


@require_http_methods(["GET", "POST"])
def sandbox_onboarding(request, token):
    """Sandbox only: stands in for Stripe's hosted onboarding. Its button sends a signed
    `account.updated` (verified) through the webhook handler, then returns to the return URL."""
    try:
        account_id, return_url = sandbox.account_sandbox_onboarding(token=token)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc
    if request.method == "POST":
        sandbox.account_sandbox_complete(account_id=account_id)
        return HttpResponseRedirect(return_url)
    return render(request, "withdrawals/sandbox_onboarding.html", {"account_id": account_id, "return_url": return_url})

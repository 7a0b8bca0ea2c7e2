"""The API's classroom resource (docs/api.md "Live classroom"): one viewset for sessions, with their
participants and messages."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from live import selectors, services
from live.models import ParticipantRole
from live.serializers import (
    MessageListOut,
    MessageOut,
    ParticipantListOut,
    SessionCreateIn,
    SessionEndOut,
    SessionJoinOut,
    SessionOut,
    SessionStartOut,
    TokenOut,
    participant_out,
)
from tutoring.api.pagination import PAGE_PARAMS, page_response, paginate
from tutoring.api.validation import validated
from tutoring.api.viewsets import ApiViewSet


class SessionViewSet(ApiViewSet):
    lookup_url_kwarg = "session_id"
    pure_reads = frozenset({"participants"})

    @extend_schema(
        request=SessionCreateIn,
        responses={201: SessionJoinOut, 200: SessionJoinOut},
        tags=["live"],
        description="Open the class of a paid booking (201), or join the one already open (200). "
        "Only the caller's own token is filled in; the other party's is null.",
    )
    def create(self, request):
        booking_id = validated(SessionCreateIn, request)["bookingId"]
        session, created = services.session_create(booking_id=booking_id, user=request.user)
        grant = services.session_token_issue(session=session, user=request.user)
        role = selectors.party_role(session=session, user=request.user)
        body = {
            "session": SessionOut(session).data,
            "tutorToken": grant.token if role == ParticipantRole.TUTOR else None,
            "studentToken": grant.token if role == ParticipantRole.STUDENT else None,
        }
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(responses=SessionOut, tags=["live"])
    def retrieve(self, request, session_id):
        session = selectors.session_get_for_user(session_id=session_id, user=request.user, staff_allowed=True)
        return Response(SessionOut(session).data)

    @extend_schema(request=None, responses=TokenOut, tags=["live"])
    @action(detail=True, methods=["post"])
    def token(self, request, session_id):
        session = selectors.session_get_for_user(session_id=session_id, user=request.user)
        return Response(TokenOut(services.session_token_issue(session=session, user=request.user)).data)

    @extend_schema(request=None, responses=SessionStartOut, tags=["live"])
    @action(detail=True, methods=["post"])
    def start(self, request, session_id):
        return Response(SessionStartOut(services.session_start(session_id=session_id, user=request.user)).data)

    @extend_schema(request=None, responses=SessionEndOut, tags=["live"])
    @action(detail=True, methods=["post"])
    def end(self, request, session_id):
        return Response(SessionEndOut(services.session_end(session_id=session_id, user=request.user)).data)

    @extend_schema(responses=ParticipantListOut, tags=["live"], operation_id="live_sessions_participants_list")
    @action(detail=True, methods=["get"])
    def participants(self, request, session_id):
        rows = selectors.participant_list_for_user(session_id=session_id, user=request.user)
        return Response({"participants": [participant_out(row) for row in rows]})

    @extend_schema(
        parameters=PAGE_PARAMS, responses=MessageListOut, tags=["live"], operation_id="live_sessions_messages_list"
    )
    @action(detail=True, methods=["get"])
    def messages(self, request, session_id):
        session = selectors.session_get_for_user(session_id=session_id, user=request.user)
        rows, next_cursor = paginate(selectors.message_list(session=session), request.query_params)
        return Response(page_response("messages", rows, next_cursor, MessageOut))

"""HTTP views of CONTRACT §4: validate input, call one service or selector, shape the output."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from live import selectors, services
from live.models import ParticipantRole
from live.serializers import (
    MessageListOut,
    MessageOut,
    ParticipantListOut,
    ParticipantOut,
    SessionCreateIn,
    SessionEndOut,
    SessionJoinOut,
    SessionOut,
    SessionStartOut,
    TokenOut,
)
from tutoring.api.pagination import PAGE_PARAMS, page_response, paginate
from tutoring.api.validation import validated


class SessionCreateView(APIView):
    @extend_schema(
        request=SessionCreateIn,
        responses={201: SessionJoinOut, 200: SessionJoinOut},
        tags=["live"],
        description="Open the class of a paid booking (201), or join the one already open (200). "
        "Only the caller's own token is filled in; the other party's is null.",
    )
    def post(self, request):
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


class SessionDetailView(APIView):
    @extend_schema(responses=SessionOut, tags=["live"])
    def get(self, request, session_id):
        session = selectors.session_get_for_user(session_id=session_id, user=request.user, staff_allowed=True)
        return Response(SessionOut(session).data)


class SessionTokenView(APIView):
    @extend_schema(request=None, responses=TokenOut, tags=["live"])
    def post(self, request, session_id):
        session = selectors.session_get_for_user(session_id=session_id, user=request.user)
        return Response(TokenOut(services.session_token_issue(session=session, user=request.user)).data)


class SessionStartView(APIView):
    @extend_schema(request=None, responses=SessionStartOut, tags=["live"])
    def post(self, request, session_id):
        return Response(SessionStartOut(services.session_start(session_id=session_id, user=request.user)).data)


class SessionEndView(APIView):
    @extend_schema(request=None, responses=SessionEndOut, tags=["live"])
    def post(self, request, session_id):
        return Response(SessionEndOut(services.session_end(session_id=session_id, user=request.user)).data)


class ParticipantListView(APIView):
    @extend_schema(responses=ParticipantListOut, tags=["live"], operation_id="live_sessions_participants_list")
    def get(self, request, session_id):
        session = selectors.session_get_for_user(session_id=session_id, user=request.user)
        rows = selectors.participant_list(session=session)
        return Response({"participants": ParticipantOut(rows, many=True).data})


class MessageListView(APIView):
    @extend_schema(
        parameters=PAGE_PARAMS, responses=MessageListOut, tags=["live"], operation_id="live_sessions_messages_list"
    )
    def get(self, request, session_id):
        session = selectors.session_get_for_user(session_id=session_id, user=request.user)
        rows, next_cursor = paginate(
            selectors.message_list(session=session), request.query_params, time_field="created_at"
        )
        return Response(page_response("messages", rows, next_cursor, MessageOut))

"""The API's classroom resource (docs/api.md "Live classroom"): one viewset for sessions, with their
participants and messages."""

from django.http import FileResponse, HttpResponseRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from live import selectors, services
from live.models import ParticipantRole
from live.serializers import (
    EventListOut,
    EventOut,
    MessageListOut,
    MessageOut,
    MuteIn,
    ParticipantListOut,
    ParticipantOut,
    RecordingOut,
    SessionCreateIn,
    SessionEndOut,
    SessionJoinOut,
    SessionOut,
    SessionStartOut,
    SessionStatsOut,
    TokenOut,
    participant_out,
)
from live.video import get_video_provider
from tutoring.api.pagination import PAGE_PARAMS, Key, page_response, paginate
from tutoring.api.validation import validated
from tutoring.api.viewsets import ApiViewSet
from tutoring.errors import NotFound


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

    # --- moderation (docs/classroom.md) ---------------------------------------------------------------

    @extend_schema(request=MuteIn, responses=ParticipantOut, tags=["live"])
    @action(detail=True, methods=["post"], url_path="participants/<uuid:user_id>/mute")
    def mute(self, request, session_id, user_id):
        body = validated(MuteIn, request)
        participant = services.participant_mute(
            session_id=session_id, user=request.user, participant_id=user_id, audio=body["audio"], video=body["video"]
        )
        return Response(ParticipantOut(participant).data)

    @extend_schema(request=None, responses=ParticipantOut, tags=["live"])
    @action(detail=True, methods=["post"], url_path="participants/<uuid:user_id>/remove")
    def remove(self, request, session_id, user_id):
        participant = services.participant_remove(session_id=session_id, user=request.user, participant_id=user_id)
        return Response(ParticipantOut(participant).data)

    @extend_schema(request=None, responses=ParticipantOut, tags=["live"])
    @action(detail=True, methods=["post"], url_path="participants/<uuid:user_id>/admit")
    def admit(self, request, session_id, user_id):
        participant = services.participant_admit(session_id=session_id, user=request.user, participant_id=user_id)
        return Response(ParticipantOut(participant).data)

    # --- the record -----------------------------------------------------------------------------------

    @extend_schema(
        parameters=PAGE_PARAMS,
        responses=EventListOut,
        tags=["live"],
        operation_id="live_sessions_events_list",
        description="Everything that happened in the session, oldest first.",
    )
    @action(detail=True, methods=["get"])
    def events(self, request, session_id):
        session = selectors.session_get_for_user(session_id=session_id, user=request.user, staff_allowed=True)
        rows, next_cursor = paginate(selectors.event_list(session=session), request.query_params, order=OLDEST_FIRST)
        return Response(page_response("events", rows, next_cursor, EventOut))

    @extend_schema(responses=SessionStatsOut, tags=["live"], operation_id="live_sessions_stats_retrieve")
    @action(detail=True, methods=["get"])
    def stats(self, request, session_id):
        session = selectors.session_get_for_user(session_id=session_id, user=request.user, staff_allowed=True)
        return Response(SessionStatsOut(selectors.session_stats(session=session)).data)

    # --- recording -------------------------------------------------------------------------------------

    @extend_schema(responses=RecordingOut, tags=["live"], operation_id="live_sessions_recording_retrieve")
    @action(detail=True, methods=["get"], url_path="recording")
    def recording(self, request, session_id):
        session = selectors.session_get_for_user(session_id=session_id, user=request.user, staff_allowed=True)
        return Response(RecordingOut(selectors.recording_get(session=session)).data)

    @extend_schema(request=None, responses=RecordingOut, tags=["live"])
    @action(detail=True, methods=["post"], url_path="recording/start")
    def recording_start(self, request, session_id):
        return Response(RecordingOut(services.recording_start(session_id=session_id, user=request.user)).data)

    @extend_schema(request=None, responses=RecordingOut, tags=["live"])
    @action(detail=True, methods=["post"], url_path="recording/stop")
    def recording_stop(self, request, session_id):
        return Response(RecordingOut(services.recording_stop(session_id=session_id, user=request.user)).data)

    @extend_schema(
        parameters=[OpenApiParameter("token", str, required=True, description="From the recording's `url`.")],
        responses={(200, "audio/wav"): OpenApiTypes.BINARY, 302: None},
        tags=["live"],
        operation_id="live_sessions_recording_media",
        auth=[],
        description="The recording's file (sandbox), or a redirect to the provider's short-lived link to it. "
        "A media element cannot send a bearer token, so the signed link (the recording's `url`, handed only "
        "to the parties and staff) is the credential: short-lived and for one file.",
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="recording/media",
        authentication_classes=[],
        permission_classes=[AllowAny],
    )
    def recording_media(self, request, session_id):
        recording = selectors.recording_by_link(session_id=session_id, token=request.query_params.get("token", ""))
        media = get_video_provider().composition_media(composition_sid=recording.composition_sid)
        if media.url:
            return HttpResponseRedirect(media.url)
        try:
            handle = open(media.path, "rb")  # noqa: SIM115 -- FileResponse closes it
        except OSError:
            raise NotFound(selectors.RECORDING_GONE) from None
        response = FileResponse(handle, content_type=media.content_type)
        response["Cache-Control"] = "private, no-store"
        return response


# The record reads oldest first; the increasing `seq` orders events of one timestamp.
OLDEST_FIRST = (Key("timestamp", ascending=True), Key("pk", ascending=True))

"""Bare DRF views: simplejwt's stateless authentication (the token's signature and expiry, no user
lookup), `IsAuthenticated`, no rate limit, DRF's JSON renderer; one of them one PostgreSQL round trip.

`BaselineParticipants` answers what `GET /api/live/sessions/{id}/participants` answers (the same rows
and fields) in one query, trusting the token alone: no user check, no access rule, no limit. It is the
floor a framework-level endpoint could reach on this stack, not something the product could ship.
"""

from django.db import connection
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication

from live.serializers import ParticipantOut

SQL = """
SELECT p.user_id, u.name, p.role, p.is_audio_enabled, p.is_video_enabled, p.is_screen_sharing,
       p.hand_raised, p.is_connected, p.audio_muted, p.video_muted, p.removed
FROM live_participant p JOIN tutoring_user u ON u.id = p.user_id
WHERE p.session_id = %s
ORDER BY p.role = 'tutor' DESC
"""
# The endpoint's field names, in its order (that of SQL's columns): the baseline cannot fall behind it.
FIELDS = tuple(ParticipantOut().fields)


class _Bare(APIView):
    authentication_classes = [JWTStatelessUserAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = []
    renderer_classes = [JSONRenderer]


class BaselineParticipants(_Bare):
    def get(self, request, session_id):
        with connection.cursor() as cursor:
            cursor.execute(SQL, [session_id])
            rows = cursor.fetchall()
        return Response({"participants": [dict(zip(FIELDS, (str(r[0]), *r[1:]), strict=True)) for r in rows]})


class BaselineNoQuery(_Bare):
    def get(self, request):
        return Response({"participants": []})

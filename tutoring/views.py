"""The API's resources of accounts, tutors and bookings (docs/api.md): one viewset each."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from tutoring import selectors, services
from tutoring.api.auth import TokenObtainPairSerializer, TokenRefreshSerializer
from tutoring.api.pagination import PAGE_PARAMS, page_response, paginate
from tutoring.api.permissions import IsStudent, IsTutor
from tutoring.api.validation import validated
from tutoring.api.viewsets import ApiViewSet
from tutoring.serializers import (
    BookingCreateIn,
    BookingListOut,
    BookingOut,
    RegisterIn,
    RegisterOut,
    TokenPairOut,
    TutorListOut,
    TutorOut,
    TutorPatchIn,
    UserOut,
    user_data,
)

ANONYMOUS = {"authentication_classes": (), "permission_classes": (AllowAny,)}


def _token_pair(serializer_class, request) -> dict:
    """simplejwt's obtain/refresh serializers, with its views' answer to a bad token (401)."""
    serializer = serializer_class(data=request.data, context={"request": request})
    try:
        serializer.is_valid(raise_exception=True)
    except TokenError as exc:
        raise InvalidToken(exc.args[0]) from exc
    return serializer.validated_data


# Accounts and JWTs: register, obtain and refresh a token pair, the signed-in user.
class AuthViewSet(ApiViewSet):
    permissions = {"me": (IsAuthenticated,)}

    @extend_schema(request=RegisterIn, responses={201: RegisterOut}, tags=["auth"])
    @action(detail=False, methods=["post"], **ANONYMOUS)
    def register(self, request):
        user = services.user_register(**validated(RegisterIn, request))
        refresh = RefreshToken.for_user(user)
        body = {"user": user_data(user), "access": str(refresh.access_token), "refresh": str(refresh)}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=TokenObtainPairSerializer,
        responses={200: TokenPairOut},
        tags=["auth"],
        description="Takes a set of user credentials and returns an access and refresh JSON web\n"
        "token pair to prove the authentication of those credentials.",
    )
    @action(detail=False, methods=["post"], **ANONYMOUS)
    def token(self, request):
        return Response(_token_pair(TokenObtainPairSerializer, request))

    @extend_schema(
        request=TokenRefreshSerializer,
        responses={200: TokenPairOut},
        tags=["auth"],
        description="Takes a refresh type JSON web token and returns an access type JSON web\n"
        "token if the refresh token is valid.",
    )
    @action(detail=False, methods=["post"], url_path="token/refresh", url_name="token-refresh", **ANONYMOUS)
    def token_refresh(self, request):
        return Response(_token_pair(TokenRefreshSerializer, request))

    @extend_schema(responses=UserOut, tags=["auth"])
    @action(detail=False, methods=["get"])
    def me(self, request):
        return Response(user_data(request.user))


class TutorViewSet(ApiViewSet):
    lookup_url_kwarg = "tutor_id"
    permissions = {"me": (IsTutor,)}

    @extend_schema(
        parameters=[OpenApiParameter("subject", str, description="Case-insensitive subject name."), *PAGE_PARAMS],
        responses=TutorListOut,
        tags=["tutors"],
        operation_id="tutors_list",
    )
    def list(self, request):
        rows, next_cursor = paginate(
            selectors.tutor_list(subject=request.query_params.get("subject")), request.query_params
        )
        return Response(page_response("tutors", rows, next_cursor, TutorOut))

    @extend_schema(responses=TutorOut, tags=["tutors"])
    def retrieve(self, request, tutor_id):
        return Response(TutorOut(selectors.tutor_get(tutor_id=tutor_id)).data)

    @extend_schema(request=TutorPatchIn, responses=TutorOut, tags=["tutors"])
    @action(detail=False, methods=["patch"])
    def me(self, request):
        changes = validated(TutorPatchIn, request, partial=True)
        services.tutor_profile_update(user=request.user, fields=set(changes), **changes)
        return Response(TutorOut(selectors.tutor_get(tutor_id=request.user.pk)).data)


class BookingViewSet(ApiViewSet):
    lookup_url_kwarg = "booking_id"
    permissions = {"create": (IsStudent,)}

    @extend_schema(parameters=PAGE_PARAMS, responses=BookingListOut, tags=["bookings"], operation_id="bookings_list")
    def list(self, request):
        rows, next_cursor = paginate(selectors.booking_list_for_user(user=request.user), request.query_params)
        return Response(page_response("bookings", rows, next_cursor, BookingOut))

    @extend_schema(request=BookingCreateIn, responses={201: BookingOut}, tags=["bookings"])
    def create(self, request):
        v = validated(BookingCreateIn, request)
        booking = services.booking_create(
            student=request.user,
            tutor_id=v["tutorId"],
            start_time=v["startTime"],
            duration_minutes=v["durationMinutes"],
            subject=v["subject"],
        )
        return Response(BookingOut(booking).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=BookingOut, tags=["bookings"])
    def retrieve(self, request, booking_id):
        return Response(BookingOut(selectors.booking_get_for_user(booking_id=booking_id, user=request.user)).data)

    @extend_schema(request=None, responses=BookingOut, tags=["bookings"])
    @action(detail=True, methods=["post"])
    def cancel(self, request, booking_id):
        return Response(BookingOut(services.booking_cancel(booking_id=booking_id, user=request.user)).data)

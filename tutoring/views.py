"""The API's resources of accounts, tutors and bookings (docs/api.md): one viewset each."""

from django.utils import timezone, translation
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from marketplace import selectors as market_selectors
from marketplace import services as market_services
from marketplace.serializers import (
    AvailabilityIn,
    AvailabilityOut,
    ReviewIn,
    ReviewListOut,
    ReviewOut,
    SlotListOut,
    SlotOut,
    SlotsIn,
)
from tutoring import selectors, services
from tutoring.api.auth import TokenObtainPairSerializer, TokenRefreshSerializer
from tutoring.api.pagination import PAGE_PARAMS, page_response, paginate
from tutoring.api.permissions import IsStudent, IsTutor
from tutoring.api.ratelimit import ApiRateLimit, PasswordResetRateLimit, reset_address_rate_check
from tutoring.api.validation import validated, validated_query
from tutoring.api.viewsets import ApiViewSet
from tutoring.serializers import (
    BookingCreateIn,
    BookingListOut,
    BookingOut,
    PasswordResetConfirmIn,
    PasswordResetIn,
    RegisterIn,
    RegisterOut,
    TokenPairOut,
    TutorListOut,
    TutorOut,
    TutorPatchIn,
    TutorSearchIn,
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
    throttles = {"password_reset": (ApiRateLimit, PasswordResetRateLimit)}

    @extend_schema(request=RegisterIn, responses={201: RegisterOut}, tags=["auth"])
    @action(detail=False, methods=["post"], **ANONYMOUS)
    def register(self, request):
        language = translation.get_language_from_request(request)
        user = services.user_register(**validated(RegisterIn, request), language=language)
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

    @extend_schema(
        request=PasswordResetIn,
        responses={202: None},
        tags=["auth"],
        description="Emails a link to reset the password, if an account has this address. "
        "The answer is 202 either way.",
    )
    @action(detail=False, methods=["post"], url_path="password/reset", url_name="password-reset", **ANONYMOUS)
    def password_reset(self, request):
        values = validated(PasswordResetIn, request)
        reset_address_rate_check(values["email"])
        services.password_reset_request(**values)
        return Response(status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=PasswordResetConfirmIn, responses={200: UserOut}, tags=["auth"])
    @action(
        detail=False,
        methods=["post"],
        url_path="password/reset/confirm",
        url_name="password-reset-confirm",
        **ANONYMOUS,
    )
    def password_reset_confirm(self, request):
        user = services.password_reset_confirm(**validated(PasswordResetConfirmIn, request))
        return Response(user_data(user))


class TutorViewSet(ApiViewSet):
    lookup_url_kwarg = "tutor_id"
    permissions = {"me": (IsTutor,), "my_availability": (IsTutor,)}

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="Words to find in name, subjects and bio."),
            OpenApiParameter("subject", str, description="Case-insensitive subject name."),
            OpenApiParameter("minRate", int, description="Lowest hourlyRate, in minor units."),
            OpenApiParameter("maxRate", int, description="Highest hourlyRate, in minor units."),
            OpenApiParameter(
                "sort",
                str,
                enum=["rating", "price", "-price", "newest"],
                description="Order; by relevance when `q` is given, else newest first.",
            ),
            *PAGE_PARAMS,
        ],
        responses=TutorListOut,
        tags=["tutors"],
        operation_id="tutors_list",
    )
    def list(self, request):
        search = validated_query(TutorSearchIn, request)
        tutors, order = selectors.tutor_list(
            q=search["q"],
            subject=search["subject"],
            min_rate=search.get("minRate"),
            max_rate=search.get("maxRate"),
            sort=search.get("sort"),
        )
        rows, next_cursor = paginate(tutors, request.query_params, order=order)
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

    @extend_schema(request=AvailabilityIn, responses=AvailabilityOut, tags=["tutors"])
    @action(detail=False, methods=["put"], url_path="me/availability", url_name="my-availability")
    def my_availability(self, request):
        v = validated(AvailabilityIn, request)
        market_services.availability_set(
            user=request.user, timezone_name=v["timezone"], weekly=v["weekly"], exceptions=v["exceptions"]
        )
        return Response(AvailabilityOut(market_selectors.availability_get(tutor_id=request.user.pk)).data)

    @extend_schema(responses=AvailabilityOut, tags=["tutors"])
    @action(detail=True, methods=["get"])
    def availability(self, request, tutor_id):
        return Response(AvailabilityOut(market_selectors.availability_get(tutor_id=tutor_id)).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("from", str, required=True, description="ISO 8601 with offset: first start."),
            OpenApiParameter("to", str, required=True, description="ISO 8601 with offset; at most 31 days on."),
            OpenApiParameter("durationMinutes", int, required=True, description="15–240, in steps of 15."),
        ],
        responses=SlotListOut,
        tags=["tutors"],
    )
    @action(detail=True, methods=["get"])
    def slots(self, request, tutor_id):
        v = validated_query(SlotsIn, request)
        slots = market_selectors.slots_for_tutor(
            tutor_id=tutor_id,
            start=v["from"],
            end=v["to"],
            duration_minutes=v["durationMinutes"],
            now=timezone.now(),
        )
        return Response({"slots": SlotOut(slots, many=True).data})

    @extend_schema(parameters=PAGE_PARAMS, responses=ReviewListOut, tags=["tutors"])
    @action(detail=True, methods=["get"])
    def reviews(self, request, tutor_id):
        rows, next_cursor = paginate(market_selectors.review_list_for_tutor(tutor_id=tutor_id), request.query_params)
        return Response(page_response("reviews", rows, next_cursor, ReviewOut))


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

    @extend_schema(request=ReviewIn, responses={201: ReviewOut}, tags=["bookings"])
    @action(detail=True, methods=["post"])
    def review(self, request, booking_id):
        review = market_services.review_create(booking_id=booking_id, user=request.user, **validated(ReviewIn, request))
        return Response(ReviewOut(review).data, status=status.HTTP_201_CREATED)

"""HTTP views of §2–3: validate input, call one service or selector, shape the output."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from tutoring import selectors, services
from tutoring.api.pagination import PAGE_PARAMS, page_response, paginate
from tutoring.api.permissions import IsStudent, IsTutor
from tutoring.api.validation import validated
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


class RegisterView(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(request=RegisterIn, responses={201: RegisterOut}, tags=["auth"])
    def post(self, request):
        user = services.user_register(**validated(RegisterIn, request))
        refresh = RefreshToken.for_user(user)
        body = {"user": user_data(user), "access": str(refresh.access_token), "refresh": str(refresh)}
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema(responses={200: TokenPairOut}, tags=["auth"])
class TokenView(TokenObtainPairView):
    pass


@extend_schema(responses={200: TokenPairOut}, tags=["auth"])
class TokenRefreshRotateView(TokenRefreshView):
    pass


class MeView(APIView):
    @extend_schema(responses=UserOut, tags=["auth"])
    def get(self, request):
        return Response(user_data(request.user))


class TutorListView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("subject", str, description="Case-insensitive subject name."), *PAGE_PARAMS],
        responses=TutorListOut,
        tags=["tutors"],
        operation_id="tutors_list",
    )
    def get(self, request):
        rows, next_cursor = paginate(
            selectors.tutor_list(subject=request.query_params.get("subject")), request.query_params
        )
        return Response(page_response("tutors", rows, next_cursor, TutorOut))


class TutorDetailView(APIView):
    @extend_schema(responses=TutorOut, tags=["tutors"])
    def get(self, request, tutor_id):
        return Response(TutorOut(selectors.tutor_get(tutor_id=tutor_id)).data)


class TutorMeView(APIView):
    permission_classes = (IsTutor,)

    @extend_schema(request=TutorPatchIn, responses=TutorOut, tags=["tutors"])
    def patch(self, request):
        changes = validated(TutorPatchIn, request, partial=True)
        services.tutor_profile_update(user=request.user, fields=set(changes), **changes)
        return Response(TutorOut(selectors.tutor_get(tutor_id=request.user.pk)).data)


class BookingListCreateView(APIView):
    def get_permissions(self):
        if self.request.method == "POST":
            return [IsStudent()]
        return super().get_permissions()

    @extend_schema(parameters=PAGE_PARAMS, responses=BookingListOut, tags=["bookings"], operation_id="bookings_list")
    def get(self, request):
        rows, next_cursor = paginate(selectors.booking_list_for_user(user=request.user), request.query_params)
        return Response(page_response("bookings", rows, next_cursor, BookingOut))

    @extend_schema(request=BookingCreateIn, responses={201: BookingOut}, tags=["bookings"])
    def post(self, request):
        v = validated(BookingCreateIn, request)
        booking = services.booking_create(
            student=request.user,
            tutor_id=v["tutorId"],
            start_time=v["startTime"],
            duration_minutes=v["durationMinutes"],
            subject=v["subject"],
        )
        return Response(BookingOut(booking).data, status=status.HTTP_201_CREATED)


class BookingDetailView(APIView):
    @extend_schema(responses=BookingOut, tags=["bookings"])
    def get(self, request, booking_id):
        return Response(BookingOut(selectors.booking_get_for_user(booking_id=booking_id, user=request.user)).data)


class BookingCancelView(APIView):
    @extend_schema(request=None, responses=BookingOut, tags=["bookings"])
    def post(self, request, booking_id):
        return Response(BookingOut(services.booking_cancel(booking_id=booking_id, user=request.user)).data)

"""Input validation and output shapes of §2–3. Field names are the contract's camelCase."""

from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from tutoring.api.fields import DateTimeField, StrictIntegerField
from tutoring.models import Booking, BookingStatus, Role, TutorProfile, User


class UserOut(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)


class RegisterIn(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    name = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=[Role.TUTOR, Role.STUDENT])


class RegisterOut(serializers.Serializer):
    user = UserOut()
    access = serializers.CharField()
    refresh = serializers.CharField()


class PasswordResetIn(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetConfirmIn(serializers.Serializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class TutorSearchIn(serializers.Serializer):
    q = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    subject = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    minRate = serializers.IntegerField(min_value=0, required=False)
    maxRate = serializers.IntegerField(min_value=0, required=False)
    sort = serializers.ChoiceField(choices=["rating", "price", "-price", "newest"], required=False)

    def validate(self, attrs: dict) -> dict:
        low, high = attrs.get("minRate"), attrs.get("maxRate")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"maxRate": [gettext("Must be at least minRate.")]})
        return attrs


class TokenPairOut(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class TutorOut(serializers.Serializer):
    id = serializers.UUIDField(source="user_id")
    name = serializers.CharField(source="user.name")
    hourlyRate = serializers.IntegerField(source="hourly_rate", allow_null=True)
    currency = serializers.CharField()
    subjects = serializers.SerializerMethodField()
    bio = serializers.CharField()
    rating = serializers.DecimalField(
        max_digits=2, decimal_places=1, coerce_to_string=False, allow_null=True, help_text="Average of reviews."
    )
    reviewsCount = serializers.IntegerField(source="reviews_count")

    def get_subjects(self, profile: TutorProfile) -> list[str]:
        return [row.name for row in profile.subjects.all()]


@extend_schema_serializer(many=False)  # a page object, not a list
class TutorListOut(serializers.Serializer):
    tutors = TutorOut(many=True)
    next = serializers.CharField(allow_null=True)


class TutorPatchIn(serializers.Serializer):
    hourlyRate = StrictIntegerField(source="hourly_rate", min_value=100, max_value=10_000_000, allow_null=True)
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", max_length=3)
    subjects = serializers.ListField(
        child=serializers.CharField(max_length=100, min_length=1), max_length=20, allow_empty=True
    )
    bio = serializers.CharField(max_length=5000, allow_blank=True, trim_whitespace=True)

    def validate_subjects(self, value: list[str]) -> list[str]:
        seen: set[str] = set()
        unique = []
        for name in value:
            if name.lower() not in seen:
                seen.add(name.lower())
                unique.append(name)
        return unique


def validate_duration(value: int) -> int:
    if value % 15:
        raise serializers.ValidationError(gettext("Must be a multiple of 15 minutes."))
    return value


class BookingCreateIn(serializers.Serializer):
    tutorId = serializers.UUIDField()
    startTime = DateTimeField()
    durationMinutes = serializers.IntegerField(min_value=15, max_value=240, validators=[validate_duration])
    subject = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class BookingOut(serializers.ModelSerializer):
    # As of now: an unpaid booking past its payment window reads `expired` before any job writes it.
    status = serializers.ChoiceField(source="current_status", choices=BookingStatus.choices)
    tutorId = serializers.UUIDField(source="tutor_id")
    studentId = serializers.UUIDField(source="student_id")
    startTime = DateTimeField(source="start_time")
    endTime = DateTimeField(source="end_time")
    durationMinutes = serializers.IntegerField(source="duration_minutes")
    createdAt = DateTimeField(source="created_at")

    class Meta:
        model = Booking
        fields = [
            "id",
            "tutorId",
            "studentId",
            "subject",
            "startTime",
            "endTime",
            "durationMinutes",
            "price",
            "currency",
            "status",
            "createdAt",
        ]


@extend_schema_serializer(many=False)  # a page object, not a list
class BookingListOut(serializers.Serializer):
    bookings = BookingOut(many=True)
    next = serializers.CharField(allow_null=True)


def user_data(user: User) -> dict:
    return UserOut(user).data

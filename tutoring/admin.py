from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm

from tutoring.models import Booking, TutorProfile, TutorSubject, User


class UserCreateForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email", "name", "role")


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreateForm
    ordering = ("-date_joined",)
    list_display = ("email", "name", "role", "is_active", "date_joined")
    list_filter = ("role", "is_active")
    search_fields = ("email", "name")
    readonly_fields = ("id", "date_joined", "last_login")
    fieldsets = (
        (None, {"fields": ("id", "email", "password")}),
        ("Profile", {"fields": ("name", "role", "language")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("date_joined", "last_login")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "name", "role", "password1", "password2")}),)


class TutorSubjectInline(admin.TabularInline):
    model = TutorSubject
    extra = 0


@admin.register(TutorProfile)
class TutorProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "hourly_rate", "currency", "rating", "reviews_count", "created_at")
    readonly_fields = ("rating", "reviews_count")
    search_fields = ("user__email", "user__name")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    inlines = [TutorSubjectInline]


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = ("id", "tutor", "student", "start_time", "duration_minutes", "price", "currency", "status")
    list_filter = ("status",)
    search_fields = ("id", "tutor__email", "student__email")
    list_select_related = ("tutor", "student")
    date_hierarchy = "start_time"
    # Money and state move only through services (payments, refunds, sessions), never by hand.
    readonly_fields = (
        "id",
        "tutor",
        "student",
        "start_time",
        "end_time",
        "duration_minutes",
        "price",
        "currency",
        "status",
        "created_at",
        "updated_at",
        "completed_at",
        "earnings_released_at",
    )

    def has_add_permission(self, request):
        return False

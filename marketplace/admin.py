from django.contrib import admin

from marketplace.models import Availability, AvailabilityException, Review, WeeklyHours
from tutoring.admin_base import ReadOnlyAdmin


class ReadOnlyInline(admin.TabularInline):
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class WeeklyHoursInline(ReadOnlyInline):
    model = WeeklyHours


class ExceptionInline(ReadOnlyInline):
    model = AvailabilityException


@admin.register(Availability)
class AvailabilityAdmin(ReadOnlyAdmin):
    """A tutor's hours, as they set them (`availability_set` checks them; staff look, never edit)."""

    list_display = ("tutor", "timezone", "updated_at")
    search_fields = ("tutor__email", "tutor__name")
    list_select_related = ("tutor",)
    raw_id_fields = ("tutor",)
    inlines = [WeeklyHoursInline, ExceptionInline]


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    """Reviews move the tutor's average in the review's transaction (marketplace.services), never by hand."""

    list_display = ("booking", "tutor", "student", "rating", "created_at")
    list_filter = ("rating",)
    search_fields = ("tutor__email", "student__email", "comment")
    list_select_related = ("tutor", "student", "booking")
    date_hierarchy = "created_at"

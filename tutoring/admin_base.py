"""Shared admin pieces: read-only admins, and review-queue actions that call the same services as the API.

Review-queue actions (approve / reject with a note):

Used by refunds and withdrawals: the action shows a page with a note (and an amount where allowed),
then calls the service once per selected row; each row's outcome is reported, and a row already
decided is refused by the service (409), not by the admin.
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse

from tutoring.errors import ApplicationError


class DecisionForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), required=False, max_length=2000)
    amount = forms.IntegerField(required=False, min_value=1, help_text="Minor units; empty keeps the requested amount.")


def decision_action(
    *, name: str, label: str, service: Callable[..., object], note_required: bool, allow_amount: bool = False
):
    """An admin action `name` that asks for a note (required or not) and calls `service` per row."""

    def action(modeladmin: admin.ModelAdmin, request, queryset):
        form = DecisionForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            note = form.cleaned_data["note"].strip()
            amount = form.cleaned_data["amount"] if allow_amount else None
            if note_required and not note:
                form.add_error("note", "A note is required.")
            else:
                done = 0
                for obj in queryset:
                    kwargs = {"staff": request.user, "note": note}
                    if allow_amount and amount is not None:
                        kwargs["amount"] = amount
                    try:
                        service(obj.pk, **kwargs)
                        done += 1
                    except ApplicationError as exc:
                        modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
                if done:
                    modeladmin.message_user(request, f"{label}: {done} done.", messages.SUCCESS)
                return None
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": label,
            "objects": queryset,
            "form": form,
            "action": name,
            "note_required": note_required,
            "allow_amount": allow_amount,
            "opts": modeladmin.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/decision.html", context)

    action.__name__ = name
    action.short_description = label
    action.allowed_permissions = ("change",)
    return action


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by services only (provider records, the ledger, chat): staff look, never edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReviewQueueAdmin(admin.ModelAdmin):
    """A queue of requests decided by staff: opens on the pending ones; rows change only through actions."""

    list_filter = ("status",)
    ordering = ("-created_at",)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET" and not request.GET:
            return HttpResponseRedirect(f"{request.path}?status__exact=pending")
        return super().changelist_view(request, extra_context)

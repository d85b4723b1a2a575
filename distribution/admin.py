"""Operator admin: publish attempts and mirrored records, read-only, with a guarded Re-publish action."""

import json

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.utils.html import format_html

from .errors import PublishError
from .models import MirroredRecord, PublishAttempt
from .publishing import republish

admin.site.site_header = "Distribution operator"
admin.site.site_title = "Distribution"
admin.site.index_title = "Publishing"
admin.site.enable_nav_sidebar = False  # the lists are wide; two models need no sidebar


def pretty_json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True)) if value else "—"


class RepublishMixin:
    """The "Re-publish" action: a confirmation page, then the publish service for each audit_log_id."""

    actions = ["republish"]

    def audit_log_ids(self, queryset) -> list[str]:
        return sorted({audit_log_id for audit_log_id in queryset.values_list("audit_log_id", flat=True) if audit_log_id})

    def has_republish_permission(self, request) -> bool:
        return request.user.has_perm("distribution.republish")

    @admin.action(description="Re-publish selected records", permissions=["republish"])
    def republish(self, request, queryset):
        audit_log_ids = self.audit_log_ids(queryset)
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Re-publish",
                "opts": self.model._meta,
                "queryset": queryset,
                "audit_log_ids": audit_log_ids,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/distribution/republish_confirmation.html", context)
        for audit_log_id in audit_log_ids:
            try:
                result = republish(audit_log_id, source=PublishAttempt.Source.ADMIN)
            except PublishError as error:
                self.message_user(
                    request, f"Re-publish of {audit_log_id} failed ({error.code}): {error.message}", messages.ERROR
                )
            else:
                url = result.distribution_record["public_url"]
                self.message_user(request, f"Re-published {audit_log_id} to {url}", messages.SUCCESS)
        return None


class ReadOnlyAdmin(admin.ModelAdmin):
    """Operators look and re-publish; PayloadCMS and the pipeline are the only writers.

    Both models carry duration_seconds and public_url, displayed alike.
    """

    list_per_page = 50

    @admin.display(description="duration", ordering="duration_seconds")
    def duration(self, obj):
        return f"{obj.duration_seconds:.1f} s" if obj.duration_seconds is not None else "—"

    @admin.display(description="public URL")
    def public_link(self, obj):
        return format_html('<a href="{0}" target="_blank" rel="noopener">{0}</a>', obj.public_url) if obj.public_url else "—"

    @admin.display(description="preview")
    def preview(self, obj):
        if not obj.public_url:
            return "—"
        return format_html('<video controls preload="metadata" width="480" src="{}"></video>', obj.public_url)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PublishAttempt)
class PublishAttemptAdmin(RepublishMixin, ReadOnlyAdmin):
    list_display = (
        "audit_log_id",
        "title",
        "project_id",
        "status_label",
        "started_at",
        "duration",
        "size",
        "latency",
        "source",
    )
    list_filter = ("status", "project_id", "source", "started_at")
    search_fields = ("audit_log_id", "title", "checksum")
    date_hierarchy = "started_at"
    fieldsets = (
        (None, {"fields": ("audit_log_id", "status_label", "error_code", "error_message", "source", "project_id", "title")}),
        ("Asset", {"fields": ("checksum", "duration_seconds", "size", "storage_path", "public_link", "preview")}),
        ("Timing", {"fields": ("started_at", "finished_at", "latency", "fetch_ms", "upload_ms")}),
        ("Payloads", {"fields": ("audit_event_json", "request_json", "distribution_record_json")}),
    )

    @admin.display(description="status", ordering="status")
    def status_label(self, attempt):
        colour = {"published": "#3a7d44", "failed": "#c0392b"}.get(attempt.status, "#7f8c8d")
        return format_html('<strong style="color:{}">{}</strong>', colour, attempt.get_status_display())

    @admin.display(description="size", ordering="asset_size")
    def size(self, attempt):
        return filesizeformat(attempt.asset_size) if attempt.asset_size is not None else "—"

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, attempt):
        return f"{attempt.latency_ms} ms" if attempt.latency_ms is not None else "—"

    @admin.display(description="audit event")
    def audit_event_json(self, attempt):
        return pretty_json(attempt.audit_event)

    @admin.display(description="request")
    def request_json(self, attempt):
        return pretty_json(attempt.request)

    @admin.display(description="distribution record")
    def distribution_record_json(self, attempt):
        return pretty_json(attempt.distribution_record)


@admin.register(MirroredRecord)
class MirroredRecordAdmin(RepublishMixin, ReadOnlyAdmin):
    list_display = ("audit_log_id", "title", "project_id", "cms_status", "published_at", "duration", "public_link")
    list_filter = ("missing_from_cms", "project_id", "published_at")
    search_fields = ("audit_log_id", "title", "checksum")
    date_hierarchy = "published_at"
    fields = (
        "audit_log_id",
        "cms_status",
        "project_id",
        "title",
        "tags",
        "checksum",
        "duration_seconds",
        "storage_path",
        "public_link",
        "preview",
        "expires_at",
        "published_at",
        "synced_at",
        "metadata_json",
    )

    @admin.display(description="in PayloadCMS", ordering="missing_from_cms")
    def cms_status(self, record):
        return "missing" if record.missing_from_cms else "present"

    @admin.display(description="metadata")
    def metadata_json(self, record):
        return pretty_json(record.metadata)

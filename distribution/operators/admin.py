"""Operator admin: publish jobs and mirrored records, read-only, with guarded Re-publish, Cancel, Renew links and
Unpublish actions."""

import json
from datetime import UTC, timedelta
from urllib.parse import quote

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from distribution.cms.client import DISTRIBUTION_RECORDS
from distribution.errors import PublishError
from distribution.jobs import dispatch, lifecycle
from distribution.models import (
    CallbackDelivery,
    MirroredRecord,
    PublishJob,
    RecordCheck,
    VerificationFinding,
    VerificationRun,
)
from distribution.publishing import links
from distribution.templatetags.operator_format import binary_size, milliseconds

admin.site.site_header = "Distribution operator"
admin.site.site_title = "Distribution"
admin.site.index_title = "Publishing"
admin.site.site_url = None  # no public site to link to; the header links the dashboard instead
admin.site.enable_nav_sidebar = False  # the lists are wide; two models need no sidebar

REPUBLISH_PERMISSION = "distribution.republish"
CANCEL_PERMISSION = "distribution.cancel"
RENEW_PERMISSION = "distribution.publish"  # the API's renew_link asks the same
UNPUBLISH_PERMISSION = "distribution.unpublish"
EXPIRING_WITHIN = timedelta(days=1)  # the records list's "Link expires: within a day" and the dashboard's count
LIVE_FIELDS = ("status_label", "progress")  # what static/distribution/live-jobs.js updates in place


def pretty_json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True)) if value else "—"


def utc_time(moment) -> str:
    """The operator pages' time format (operator_format.utc), date over time so the list stays narrow."""
    if not moment:
        return "—"
    moment = moment.astimezone(UTC)
    return format_html(
        '{}<br><span class="quiet">{} UTC</span>', moment.strftime("%Y-%m-%d"), moment.strftime("%H:%M:%S")
    )


def badge(kind: str, label: str) -> str:
    return format_html('<span class="badge badge-{}">{}</span>', kind, label)


class RepublishMixin(admin.ModelAdmin):
    """Re-publish, as a list action and as a button on the detail page: confirm, then run the publish service.

    Both need the `distribution.republish` permission; every run is recorded by the service as a new job.
    """

    actions = ["republish"]
    change_form_template = "admin/distribution/change_form.html"

    def has_republish_permission(self, request) -> bool:
        return request.user.has_perm(REPUBLISH_PERMISSION)

    @admin.action(description="Re-publish selected records", permissions=["republish"])
    def republish(self, request, queryset):
        audit_log_ids = sorted({value for value in queryset.values_list("audit_log_id", flat=True) if value})
        if not audit_log_ids:
            self.message_user(request, "None of the selected rows has an audit_log_id to re-publish.", messages.WARNING)
            return None
        if request.POST.get("confirm") != "yes":
            changelist_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
            return self.republish_confirmation(request, audit_log_ids, cancel_url=changelist_url, selected=queryset)
        self.republish_each(request, audit_log_ids)
        return None

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_republish"
        view = self.admin_site.admin_view(self.republish_view)
        return [path("<path:object_id>/republish/", view, name=name), *super().get_urls()]

    def republish_view(self, request, object_id):
        """The detail page's button: GET asks for confirmation, POST re-publishes and returns to the detail page."""
        if not self.has_republish_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not obj.audit_log_id:
            raise Http404("Nothing to re-publish here.")
        change_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk])
        if request.method == "POST":
            self.republish_each(request, [obj.audit_log_id])
            return HttpResponseRedirect(change_url)
        return self.republish_confirmation(request, [obj.audit_log_id], cancel_url=change_url)

    def republish_confirmation(self, request, audit_log_ids, *, cancel_url, selected=None):
        context = {
            **self.admin_site.each_context(request),
            "title": "Re-publish",
            "opts": self.opts,
            "audit_log_ids": audit_log_ids,
            "selected": selected,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "cancel_url": cancel_url,
        }
        return TemplateResponse(request, "admin/distribution/republish_confirmation.html", context)

    def republish_each(self, request, audit_log_ids):
        """Enqueue a re-publish job per audit_log_id; say how each went (ended, queued, refused), linking its job."""
        for audit_log_id in audit_log_ids:
            try:
                job = dispatch.start_republish(
                    audit_log_id, source=PublishJob.Source.ADMIN, caller=request.user.get_username()
                )
            except PublishError as error:
                holder = error.extra.get("job_id")
                if error.code == "publish_in_progress" and holder is not None:
                    text = format_html("A publish of {} is in progress: {}.", audit_log_id, job_anchor(holder))
                    self.message_user(request, text, messages.WARNING)
                    continue
                message = f"Re-publish of {audit_log_id} failed ({error.code}): {error.message}"
                self.message_user(request, message, messages.ERROR)
                continue
            job.refresh_from_db()
            if job.status == PublishJob.Status.PUBLISHED:
                text = format_html("Re-published {} to {} ({})", audit_log_id, job.public_url, job_anchor(job.pk))
                level = messages.SUCCESS
            elif job.status == PublishJob.Status.FAILED:
                message = f"Re-publish of {audit_log_id} failed ({job.error_code}): {job.error_message}"
                text, level = format_html("{} ({})", message, job_anchor(job.pk)), messages.ERROR
            else:
                text = format_html("Re-publish of {} queued as {}.", audit_log_id, job_anchor(job.pk))
                level = messages.INFO
            self.message_user(request, text, level)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        holder = lifecycle.active_job(obj.audit_log_id) if obj and obj.audit_log_id else None
        context["active_job"] = holder
        context["can_republish"] = bool(
            obj
            and obj.audit_log_id
            and holder is None
            and self.has_republish_permission(request)
            and record_exists(obj.audit_log_id)
        )
        return super().render_change_form(request, context, add, change, form_url, obj)


def live(job: PublishJob, field: str, content: str) -> str:
    """`content`, marked for live-jobs.js to replace while the job is active."""
    return format_html(
        '<span data-live-job="{}" data-live-field="{}" data-live-active="{}">{}</span>',
        job.pk,
        field,
        "1" if job.is_active else "",
        content,
    )


def record_exists(audit_log_id: str) -> bool:
    """Whether a re-publish can find a record to publish again: the mirror has it, or a job published it."""
    return (
        MirroredRecord.objects.filter(audit_log_id=audit_log_id).exists()
        or PublishJob.objects.filter(audit_log_id=audit_log_id, status=PublishJob.Status.PUBLISHED).exists()
    )


def job_anchor(job_id: int) -> str:
    """'job N', linking to the job's admin page."""
    url = reverse("admin:distribution_publishjob_change", args=[job_id])
    return format_html('<a href="{}">job {}</a>', url, job_id)


def latest_check_annotations() -> dict:
    """When verify_distribution last checked a record, by which run, and the codes it found ('' when sound)."""
    latest = RecordCheck.objects.filter(audit_log_id=OuterRef("audit_log_id")).order_by("-checked_at", "-pk")
    return {
        "verified_at": Subquery(latest.values("checked_at")[:1]),
        "verified_by": Subquery(latest.values("run_id")[:1]),
        "verification_codes": Subquery(latest.values("codes")[:1]),
    }


class VerificationFilter(admin.SimpleListFilter):
    """Filter mirrored records by their latest verify_distribution check."""

    title = "latest verification"
    parameter_name = "verification"

    def lookups(self, request, model_admin):
        return [("sound", "Sound"), ("problems", "Problems"), ("never", "Never verified")]

    def queryset(self, request, queryset):
        if self.value() == "sound":
            return queryset.filter(verification_codes="")
        if self.value() == "problems":
            return queryset.exclude(verification_codes="").filter(verified_at__isnull=False)
        if self.value() == "never":
            return queryset.filter(verified_at__isnull=True)
        return queryset


def links_expiring_soon(queryset=None):
    """Published records whose link stops serving within EXPIRING_WITHIN (already expired ones too)."""
    queryset = MirroredRecord.objects.all() if queryset is None else queryset
    return queryset.filter(expires_at__lte=timezone.now() + EXPIRING_WITHIN, unpublished_at__isnull=True)


class LinkExpiryFilter(admin.SimpleListFilter):
    """Filter mirrored records by when their link stops serving."""

    title = "link expires"
    parameter_name = "link_expires"

    def lookups(self, request, model_admin):
        return [("day", "within a day")]

    def queryset(self, request, queryset):
        if self.value() == "day":
            return links_expiring_soon(queryset)
        return queryset


class ReadOnlyAdmin(admin.ModelAdmin):
    """Operators look and act through guarded actions; PayloadCMS and the pipeline are the only writers.

    Jobs and records carry duration_seconds and public_url, and (the records by annotation) asset_size and
    latency_ms; verification runs use only the no-write permissions.
    """

    list_per_page = 50

    @admin.display(description="video duration", ordering="duration_seconds")
    def duration(self, obj):
        return f"{obj.duration_seconds:.1f} s" if obj.duration_seconds is not None else "—"

    @admin.display(description="size", ordering="asset_size")
    def size(self, obj):
        return binary_size(obj.asset_size)

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, obj):
        return milliseconds(obj.latency_ms)

    @admin.display(description="project", ordering="project_id")
    def project(self, obj):
        return obj.project_id or "—"

    @admin.display(description="public URL")
    def public_link(self, obj):
        return (
            format_html('<a href="{0}" target="_blank" rel="noopener">{0}</a>', obj.public_url)
            if obj.public_url
            else "—"
        )

    @admin.display(description="preview")
    def preview(self, obj):
        if not obj.public_url:
            return "—"
        return format_html('<video controls preload="metadata" width="480" src="{}"></video>', obj.public_url)

    @admin.display(description="attempts")
    def attempts_link(self, obj):
        if not obj.audit_log_id:
            return "—"
        url = reverse("admin:distribution_publishjob_changelist")
        return format_html(
            '<a href="{}?audit_log_id__exact={}">Every attempt for {}</a>', url, obj.audit_log_id, obj.audit_log_id
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CallbackDeliveryInline(admin.TabularInline):
    """Every POST of the job's body to its callback_url: when, the receiver's answer, and the next try."""

    model = CallbackDelivery
    fields = ("attempt", "created_at", "delivered", "status_code", "error", "duration_ms", "next_attempt_at")
    readonly_fields = fields
    ordering = ("attempt",)
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("job_link", "url", "attempt", "delivered", "status_code", "error", "created_at")
    list_filter = ("delivered", "created_at")
    search_fields = ("url", "job__audit_log_id")
    search_help_text = "callback URL or audit_log_id"

    @admin.display(description="job", ordering="job")
    def job_link(self, delivery):
        url = reverse("admin:distribution_publishjob_change", args=[delivery.job_id])
        return format_html('<a href="{}">job {}</a>', url, delivery.job_id)


@admin.register(PublishJob)
class PublishJobAdmin(RepublishMixin, ReadOnlyAdmin):
    actions = ["republish", "cancel_jobs"]
    inlines = [CallbackDeliveryInline]
    list_display = ("audit_log_id", "title", "project", "status_label", "started", "duration", "size", "latency")
    list_filter = ("status", "error_code", "source", "project_id", "started_at")
    search_fields = ("audit_log_id", "title", "checksum")
    search_help_text = "audit_log_id, title or checksum"
    date_hierarchy = "started_at"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "audit_log_id",
                    "status_label",
                    "error_code",
                    "error_message",
                    "error_detail",
                    "source",
                    "project_id",
                    "title",
                    "attempts_link",
                )
            },
        ),
        (
            "Job",
            {
                "fields": (
                    "progress",
                    "caller",
                    "worker",
                    "lease_expires_at",
                    "cancel_requested_by",
                    "status_link",
                    "callback_url",
                )
            },
        ),
        ("Asset", {"fields": ("checksum", "duration", "size", "storage_path", "public_link", "preview")}),
        ("Timing", {"fields": ("started_at", "run_started_at", "finished_at", "latency", "fetch_ms", "upload_ms")}),
        (
            "Audit event, request and distribution record",
            {"fields": ("audit_event_json", "request_json", "distribution_record_json")},
        ),
    )

    def get_fieldsets(self, request, obj=None):
        """An ended job holds no lease: its page shows no lease expiry."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or obj.is_active:
            return fieldsets
        return [
            (name, {**options, "fields": tuple(f for f in options["fields"] if f != "lease_expires_at")})
            for name, options in fieldsets
        ]

    @admin.display(description="status", ordering="status")
    def status_label(self, job):
        return live(job, "status_label", self.status_html(job))

    def status_html(self, job) -> str:
        label = badge(job.status, job.get_status_display())
        if job.error_code:
            return format_html('{}<code class="error-code">{}</code>', label, job.error_code)
        if job.status == PublishJob.Status.RUNNING:
            return format_html("{}{}", label, self.progress_html(job))
        return label

    @admin.display(description="progress")
    def progress(self, job):
        return live(job, "progress", self.progress_html(job))

    def progress_html(self, job) -> str:
        """A running job: a bar, the stage, bytes, throughput and time left; an ended one: how far it got."""
        if not job.stage:
            return "—"
        done = binary_size(job.bytes_done)
        if job.status == PublishJob.Status.PUBLISHED:
            return f"{binary_size(job.asset_size or job.bytes_done)} transferred"
        if job.status == PublishJob.Status.FAILED:  # never a percentage: a checksum failure is no complete upload
            return f"stopped in {job.stage} after {done}"
        parts = [f"{job.stage} {done}"]
        if job.bytes_total:
            parts[0] += f" of {binary_size(job.bytes_total)} ({job.bytes_done * 100 // job.bytes_total}%)"
        elapsed = (timezone.now() - job.run_started_at).total_seconds() if job.run_started_at else 0
        if elapsed > 0 and job.bytes_done:
            rate = job.bytes_done / elapsed
            parts.append(f"{binary_size(round(rate))}/s")
            if job.bytes_total and job.bytes_total > job.bytes_done:
                parts.append(f"{milliseconds(round((job.bytes_total - job.bytes_done) / rate * 1000))} left")
        bar = (
            format_html('<progress max="{}" value="{}"></progress>', job.bytes_total, job.bytes_done)
            if job.bytes_total
            else mark_safe("<progress></progress>")  # indeterminate: the asset host declared no size
        )
        return format_html('<span class="job-progress">{}<span class="quiet">{}</span></span>', bar, " · ".join(parts))

    @admin.display(description="job API")
    def status_link(self, job):
        return format_html('<a href="{0}">{0}</a>', job.status_url)

    def get_urls(self):
        live = self.admin_site.admin_view(self.live_view)
        cancel = self.admin_site.admin_view(self.cancel_view)
        return [
            path("live/", live, name="distribution_publishjob_live"),
            path("<path:object_id>/cancel/", cancel, name="distribution_publishjob_cancel"),
            *super().get_urls(),
        ]

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm(CANCEL_PERMISSION)

    @admin.action(description="Cancel selected jobs", permissions=["cancel"])
    def cancel_jobs(self, request, queryset):
        """Confirm, then cancel each selected queued or running job (the others have nothing to cancel)."""
        active = list(queryset.filter(status__in=PublishJob.ACTIVE))
        if not active:
            self.message_user(request, "None of the selected jobs is queued or running.", messages.WARNING)
            return None
        if request.POST.get("confirm") != "yes":
            changelist_url = reverse("admin:distribution_publishjob_changelist")
            return self.cancel_confirmation(request, active, cancel_url=changelist_url, selected=queryset)
        self.cancel_each(request, active)
        return None

    def cancel_view(self, request, object_id):
        """The job page's Cancel button: GET asks for confirmation, POST cancels and returns to the job page."""
        if not self.has_cancel_permission(request):
            raise PermissionDenied
        job = self.get_object(request, unquote(object_id))
        if job is None:
            raise Http404("No such job.")
        change_url = reverse("admin:distribution_publishjob_change", args=[job.pk])
        if request.method == "POST":
            self.cancel_each(request, [job])
            return HttpResponseRedirect(change_url)
        return self.cancel_confirmation(request, [job], cancel_url=change_url)

    def cancel_confirmation(self, request, jobs, *, cancel_url, selected=None):
        context = {
            **self.admin_site.each_context(request),
            "title": "Cancel publish jobs",
            "opts": self.opts,
            "jobs": jobs,
            "selected": selected,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "cancel_url": cancel_url,
        }
        return TemplateResponse(request, "admin/distribution/cancel_confirmation.html", context)

    def cancel_each(self, request, jobs):
        """Cancel each job without waiting: the pages follow it live; say what each came to, linking the job."""
        for job in jobs:
            try:
                job = dispatch.cancel(job.pk, requested_by=request.user.get_username(), wait_seconds=0)
            except PublishError as error:
                self.message_user(request, format_html("{} ({})", error.message, job_anchor(job.pk)), messages.ERROR)
                continue
            if job.is_active:
                text = format_html(
                    "Cancelling {} ({}): it stops at its next piece and what it uploaded is removed.",
                    job_anchor(job.pk),
                    job.audit_log_id,
                )
                self.message_user(request, text, messages.INFO)
            else:
                self.message_user(request, format_html("Cancelled {} ({}).", job_anchor(job.pk), job.audit_log_id))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_cancel"] = bool(obj and obj.is_active and self.has_cancel_permission(request))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def live_view(self, request):
        """GET live/?id=1&id=2: the jobs' live fields as the pages render them, for live-jobs.js to swap in."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        ids = [value for value in request.GET.getlist("id") if value.isdigit()][:500]
        jobs = {
            str(job.pk): {
                "active": job.is_active,
                "fields": {"status_label": self.status_html(job), "progress": self.progress_html(job)},
            }
            for job in PublishJob.objects.filter(pk__in=ids)
        }
        return JsonResponse({"jobs": jobs})

    @admin.display(description="started", ordering="started_at")
    def started(self, job):
        return utc_time(job.started_at)

    @admin.display(description="audit event")
    def audit_event_json(self, job):
        return pretty_json(job.audit_event)

    @admin.display(description="request")
    def request_json(self, job):
        return pretty_json(job.request)

    @admin.display(description="distribution record")
    def distribution_record_json(self, job):
        return pretty_json(job.distribution_record)


@admin.register(MirroredRecord)
class MirroredRecordAdmin(RepublishMixin, ReadOnlyAdmin):
    actions = ["republish", "renew_links", "unpublish_records"]
    list_display = (
        "audit_log_id",
        "title",
        "project",
        "cms_status",
        "verification",
        "published",
        "duration",
        "size",
        "latency",
    )
    list_filter = ("missing_from_cms", VerificationFilter, LinkExpiryFilter, "project_id", "published_at")
    search_fields = ("audit_log_id", "title", "checksum")
    search_help_text = "audit_log_id, title or checksum"
    date_hierarchy = "published_at"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "audit_log_id",
                    "cms_status",
                    "payload_admin_link",
                    "project_id",
                    "title",
                    "tags",
                    "attempts_link",
                )
            },
        ),
        ("Asset", {"fields": ("checksum", "duration", "size", "storage_path", "public_link", "preview")}),
        ("Timing", {"fields": ("published_at", "expires_at", "synced_at", "latency")}),
        ("Verification", {"fields": ("verification", "verified_at", "verification_problems")}),
        ("Distribution record and audit event", {"fields": ("distribution_record_json", "audit_event_json")}),
    )

    def get_queryset(self, request):
        """Size, latency and audit event of the record's latest successful job, when this database saw one."""
        latest = PublishJob.objects.filter(
            audit_log_id=OuterRef("audit_log_id"), status=PublishJob.Status.PUBLISHED
        ).order_by("-started_at")
        return (
            super()
            .get_queryset(request)
            .annotate(
                asset_size=Subquery(latest.values("asset_size")[:1]),
                latency_ms=Subquery(latest.values("latency_ms")[:1]),
                audit_event=Subquery(latest.values("audit_event")[:1]),
                **latest_check_annotations(),
            )
        )

    def has_renew_permission(self, request) -> bool:
        return request.user.has_perm(RENEW_PERMISSION)

    def has_unpublish_permission(self, request) -> bool:
        return request.user.has_perm(UNPUBLISH_PERMISSION)

    @admin.action(description="Renew links of selected records", permissions=["renew"])
    def renew_links(self, request, queryset):
        """Confirm, then give each selected record a fresh link valid as long as the record's own setting."""
        records = list(queryset.exclude(audit_log_id=""))
        if not records:
            self.message_user(request, "None of the selected rows has an audit_log_id.", messages.WARNING)
            return None
        if request.POST.get("confirm") != "yes":
            return self.links_confirmation(request, "renew_links", "Renew links", records, queryset)
        for record in records:
            try:
                renewed = links.renew_link(record.audit_log_id, caller=request.user.get_username())
            except PublishError as error:
                self.message_user(
                    request,
                    f"Renewing the link of {record.audit_log_id} failed ({error.code}): {error.message}",
                    messages.ERROR,
                )
                continue
            until = f"valid until {renewed['expires_at']}" if renewed["expires_at"] else "never expires"
            text = f"Renewed the link of {record.audit_log_id}: {renewed['public_url']} ({until})."
            self.message_user(request, text, messages.SUCCESS)
        return None

    @admin.action(description="Unpublish selected records", permissions=["unpublish"])
    def unpublish_records(self, request, queryset):
        """Confirm with a reason, then take each selected record down (its file deleted, every link stops)."""
        records = list(queryset.exclude(audit_log_id=""))
        if not records:
            self.message_user(request, "None of the selected rows has an audit_log_id.", messages.WARNING)
            return None
        reason = request.POST.get("reason", "").strip()
        if request.POST.get("confirm") != "yes" or not reason:
            missing_reason = request.POST.get("confirm") == "yes"
            return self.links_confirmation(
                request, "unpublish_records", "Unpublish", records, queryset, missing_reason=missing_reason
            )
        for record in records:
            try:
                links.unpublish(record.audit_log_id, reason, caller=request.user.get_username())
            except PublishError as error:
                self.message_user(
                    request,
                    f"Unpublishing {record.audit_log_id} failed ({error.code}): {error.message}",
                    messages.ERROR,
                )
                continue
            self.message_user(
                request,
                f"Unpublished {record.audit_log_id}: its file is deleted and its links stop serving.",
                messages.SUCCESS,
            )
        return None

    def links_confirmation(self, request, action, title, records, selected, *, missing_reason=False):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "action": action,
            "records": records,
            "selected": selected,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "cancel_url": reverse("admin:distribution_mirroredrecord_changelist"),
            "missing_reason": missing_reason,
            "max_reason_length": links.MAX_REASON_LENGTH,
        }
        return TemplateResponse(request, f"admin/distribution/{action}_confirmation.html", context)

    @admin.display(description="in PayloadCMS", ordering="missing_from_cms")
    def cms_status(self, record):
        return badge("failed", "Missing") if record.missing_from_cms else badge("published", "Present")

    @admin.display(description="verified", ordering="verified_at")
    def verification(self, record):
        """The latest verify_distribution check of this record: Sound, or Problems with their codes."""
        if record.verified_at is None:
            return "—"
        if not record.verification_codes:
            return badge("published", "Sound")
        codes = format_html_join(
            "", '<code class="error-code">{}</code>', ((code,) for code in record.verification_codes.split(","))
        )
        return format_html("{}{}", badge("failed", "Problems"), codes)

    @admin.display(description="last verified")
    def verified_at(self, record):
        return utc_time(record.verified_at)

    @admin.display(description="problems found")
    def verification_problems(self, record):
        if record.verified_by is None:
            return "—"
        findings = VerificationFinding.objects.filter(run_id=record.verified_by, audit_log_id=record.audit_log_id)
        run_url = reverse("admin:distribution_verificationrun_change", args=[record.verified_by])
        items = format_html_join("", "<li><code>{}</code> {}</li>", findings.values_list("code", "message"))
        return format_html(
            '<ul>{}</ul><a href="{}">Verification run #{}</a>', items or "none", run_url, record.verified_by
        )

    @admin.display(description="in Payload's admin")
    def payload_admin_link(self, record):
        """The same document in Payload's admin, when PAYLOADCMS_ADMIN_URL is configured."""
        if not (settings.PAYLOADCMS_ADMIN_URL and record.cms_id):
            return "—"
        url = f"{settings.PAYLOADCMS_ADMIN_URL}/collections/{DISTRIBUTION_RECORDS}/{quote(record.cms_id, safe='')}"
        return format_html('<a href="{}" target="_blank" rel="noopener">Open in Payload\'s admin</a>', url)

    @admin.display(description="published", ordering="published_at")
    def published(self, record):
        return utc_time(record.published_at)

    @admin.display(description="distribution record")
    def distribution_record_json(self, record):
        return pretty_json(record.as_distribution_record())

    @admin.display(description="audit event of the latest publish")
    def audit_event_json(self, record):
        return pretty_json(record.audit_event)


class FindingInline(admin.TabularInline):
    model = VerificationFinding
    fields = ("audit_log_id", "code", "message")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(VerificationRun)
class VerificationRunAdmin(ReadOnlyAdmin):
    """Runs of `manage.py verify_distribution`, read-only, with their findings."""

    list_display = ("__str__", "status_label", "started", "selection", "records_checked", "records_with_problems")
    list_filter = ("status", "started_at")
    fields = (
        "status_label",
        "selection",
        "started_at",
        "finished_at",
        "records_checked",
        "records_with_problems",
        "error",
    )
    readonly_fields = fields
    inlines = [FindingInline]
    list_per_page = 50

    @admin.display(description="status", ordering="status")
    def status_label(self, run):
        kind = {"sound": "published", "problems": "failed", "failed": "failed", "nothing": "warning"}.get(
            run.status, "running"
        )
        return badge(kind, run.get_status_display())

    @admin.display(description="started", ordering="started_at")
    def started(self, run):
        return utc_time(run.started_at)

    @admin.display(description="selection")
    def selection(self, run):
        """The options the run was started with, e.g. `project=p1 sample=50 checksum`."""
        chosen = [name if value is True else f"{name}={value}" for name, value in run.options.items() if value]
        return " ".join(chosen) or "—"

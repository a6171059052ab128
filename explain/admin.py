from django.contrib import admin, messages

from catalogue.admin_status import RefusedFormIs400
from explain.model_admin import ModelSpecForm, model_spec_urls, test_load_action
from explain.models import ComputeJob, ComputeUnit, ModelSpec, Prediction, SaliencyMap
from explain.selectors import compute_job_progress, format_duration
from explain.services import compute_job_cancel, compute_job_retry


@admin.register(ModelSpec)
class ModelSpecAdmin(RefusedFormIs400, admin.ModelAdmin):
    list_display = ("name", "source", "architecture", "pretrained_weights", "input_size", "weights_sha256")
    readonly_fields = ("resize", "weights_preprocessing", "weights_sha256")
    form = ModelSpecForm  # test-loads the model before saving it
    actions = [test_load_action]
    change_form_template = "admin/explain/modelspec/change_form.html"  # adds the "Test load" button

    def get_urls(self):
        return model_spec_urls(self) + super().get_urls()


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ("image", "model", "top1", "created_at")
    readonly_fields = ("image", "model", "top5", "weights_sha256")

    @admin.display(description="Top-1")
    def top1(self, prediction):
        best = prediction.top5[0]
        return f"{best['name']} ({best['probability']:.2f})"


@admin.register(SaliencyMap)
class SaliencyMapAdmin(admin.ModelAdmin):
    list_display = ("image", "model", "method", "target_class", "runtime", "device", "created_at")
    list_filter = ("method", "model")
    exclude = ("map_npy", "ranks_npy")
    readonly_fields = (
        "image",
        "model",
        "method",
        "target_class",
        "params",
        "params_hash",
        "details",
        "runtime",
        "device",
        "versions",
        "weights_sha256",
    )

    @admin.display(description="Runtime", ordering="runtime_s")
    def runtime(self, saliency_map) -> str:
        return _seconds_text(saliency_map.runtime_s)


def _seconds_text(seconds: float | None) -> str:
    """'1.98 s', '0.042 s', '2 min 05 s': three significant figures at most, not 1.9828037719998974."""
    if seconds is None:
        return "-"
    if seconds >= 60:
        return format_duration(seconds)
    return f"{seconds:.3g} s"


class ComputeUnitInline(admin.TabularInline):
    model = ComputeUnit
    extra = 0
    fields = ("image", "model", "status", "attempts", "started_at", "finished_at", "duration", "error")
    readonly_fields = fields
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Took")
    def duration(self, unit) -> str:
        if unit.started_at is None or unit.finished_at is None:
            return "-"
        return _seconds_text((unit.finished_at - unit.started_at).total_seconds())


@admin.action(description="Retry the failed (and lost) units of the selected jobs")
def retry_failed(modeladmin, request, queryset):
    for job in queryset:
        try:
            unit_ids = compute_job_retry(job_id=job.pk)
        except ValueError as error:
            modeladmin.message_user(request, str(error), messages.WARNING)
        else:
            modeladmin.message_user(request, f"job {job.pk}: re-queued {len(unit_ids)} unit(s)")


@admin.action(description="Cancel the selected jobs (pending units; running ones finish)")
def cancel_jobs(modeladmin, request, queryset):
    for job in queryset:
        try:
            cancelled = compute_job_cancel(job_id=job.pk)
        except ValueError as error:
            modeladmin.message_user(request, str(error), messages.WARNING)
        else:
            modeladmin.message_user(request, f"job {job.pk}: cancelled {cancelled} pending units")


@admin.register(ComputeJob)
class ComputeJobAdmin(admin.ModelAdmin):
    list_display = (
        "pk",
        "study",
        "status",
        "done_count",
        "failed_count",
        "total",
        "rate_and_eta",
        "created_at",
        "finished_at",
    )
    list_filter = ("status",)
    readonly_fields = (
        "study",
        "status",
        "total",
        "done_count",
        "failed_count",
        "rate_and_eta",
        "errors",
        "started_at",
        "finished_at",
    )
    inlines = [ComputeUnitInline]
    actions = [retry_failed, cancel_jobs]

    def has_add_permission(self, request):
        return False  # jobs come from "Compute model maps" (study action, results page, command)

    @admin.display(description="Rate, ETA")
    def rate_and_eta(self, job):
        progress = compute_job_progress(job)
        if progress["rate_per_minute"] is None:
            return "-"
        eta = f", ETA {progress['eta_text']}" if progress["eta_text"] else ""
        return f"{progress['rate_per_minute']:.2f} units/min{eta}"

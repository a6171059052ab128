from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import models
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from catalogue.admin_status import RefusedFormIs400
from study import services
from study.compute_estimate import study_compute_estimate
from study.models import Participant, Study, Trial


@admin.action(description="Compute model maps for the selected studies")
def compute_maps(modeladmin, request, queryset):
    """First a page with each study's estimate (units, those stored already, time); its
    button queues them."""
    if "apply" not in request.POST:
        context = {
            **modeladmin.admin_site.each_context(request),
            "opts": modeladmin.model._meta,
            "title": f"Compute model maps for {queryset.count()} study(-ies)",
            "estimates": [(study, study_compute_estimate(study=study)) for study in queryset],
            "queryset": queryset,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/study/study/compute_confirm.html", context)
    for study in queryset:
        try:
            job = services.study_maps_compute(study=study)
        except ValueError as error:
            modeladmin.message_user(request, f"{study.slug}: {error}", messages.ERROR)
        else:
            modeladmin.message_user(request, f"{study.slug}: queued {job.total} image x model units")
    return None


def study_links(study: Study) -> str:
    """The study's results page, participant link and compute page, as HTML links."""
    return format_html(
        '<a href="{}">results</a> · <a href="{}">participant link</a> · <a href="{}">compute model maps…</a>',
        reverse("research_results", args=[study.slug]),
        f"/s/{study.slug}/",
        reverse("research_compute", args=[study.slug]),
    )


@admin.register(Study)
class StudyAdmin(RefusedFormIs400, admin.ModelAdmin):
    list_display = ("slug", "title", "image_set", "status", "links")
    prepopulated_fields = {"slug": ("title",)}
    filter_horizontal = ("model_specs",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = [compute_maps]
    list_filter = ("status", "template")
    readonly_fields = ("template",)
    change_list_template = "admin/study/study/change_list.html"
    change_form_template = "admin/study/study/change_form.html"  # results, participant link, compute

    def get_urls(self):
        from django.urls import path

        return [
            path(
                "from-template/",
                self.admin_site.admin_view(self.from_template_view),
                name="study_study_from_template",
            ),
            *super().get_urls(),
        ]

    def from_template_view(self, request):
        """The admin's "New study from a template" page: a form, then one service call."""
        from django.shortcuts import redirect

        from study.admin_forms import StudyFromTemplateForm
        from study.presets import PRESETS, PresetError, study_from_template

        if not self.has_add_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        form = StudyFromTemplateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                study = study_from_template(
                    template=data["template"],
                    image_set=data["image_set"],
                    models=list(data["models"]),
                    title=data["title"],
                    slug=data["slug"],
                    methods=data["methods"],
                    corruptions=data["corruptions"],
                    severities=data["severities"],
                )
            except (PresetError, ValueError) as error:
                form.add_error(None, str(error))
            else:
                estimate = study_compute_estimate(study=study)
                self.message_user(
                    request,
                    format_html(
                        "created {} from the {} template: {}",
                        study.slug,
                        study.get_template_display(),
                        study_links(study),
                    ),
                )
                if data["compute_now"]:
                    job = services.study_maps_compute(study=study)
                    self.message_user(request, f"{study.slug}: queued {job.total} image x model units")
                self.message_user(request, f"{study.slug}: {estimate.text()}")
                return redirect("admin:study_study_change", study.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "New study from a template",
            "form": form,
            "presets": PRESETS,
        }
        status = 400 if request.method == "POST" else 200  # a created study has redirected
        return TemplateResponse(request, "admin/study/study/from_template.html", context, status=status)

    @admin.display(description="Links")
    def links(self, study):
        return study_links(study)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        study = self.get_object(request, object_id)
        extra_context = {**(extra_context or {}), "study_links": study_links(study) if study else ""}
        return super().change_view(request, object_id, form_url, extra_context)


class TrialInline(admin.TabularInline):
    model = Trial
    extra = 0
    fields = ("position", "kind", "image", "status", "attention_passed", "shown_at", "completed_at")
    readonly_fields = fields
    can_delete = False


@admin.register(Participant)
class ParticipantAdmin(RefusedFormIs400, admin.ModelAdmin):
    list_display = (
        "pk",
        "study",
        "prolific_pid",
        "mturk_worker_id",
        "is_bot",
        "flagged",
        "screened_out",
        "excluded",
        "exclusion_reason",
        "consented_at",
        "finished_at",
    )
    list_filter = ("study", "is_bot", "flagged", "screened_out", "excluded")
    readonly_fields = ("code",)
    inlines = [TrialInline]
    actions = ["exclude_participants", "include_participants"]

    @admin.action(description="Exclude the selected participants from the analysis (data stays stored)")
    def exclude_participants(self, request, queryset):
        # the admin has no reason field here: the review page takes a specific one
        for participant in queryset:
            services.participant_exclude(
                participant=participant, reason=f"excluded in the admin by {request.user}"
            )
        self.message_user(request, f"excluded {len(queryset)} participant(s)")

    @admin.action(description="Include the selected participants in the analysis again")
    def include_participants(self, request, queryset):
        for participant in queryset:
            services.participant_include(participant=participant)
        self.message_user(request, f"included {len(queryset)} participant(s) again")

from django.contrib import admin, messages
from django.db import models
from django.utils.html import format_html

from explain.services import compute_job_create
from study import services
from study.models import Image, ImageSet, Participant, Study, Trial


class ImageInline(admin.TabularInline):
    model = Image
    extra = 0
    fields = (
        "name",
        "file",
        "class_index",
        "class_name",
        "is_practice",
        "is_attention_check",
        "width",
        "height",
    )
    readonly_fields = ("width", "height")


@admin.register(ImageSet)
class ImageSetAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    inlines = [ImageInline]

    def save_formset(self, request, form, formset, change):
        for image in formset.save(commit=False):
            services.image_fill_file_facts(image)
            image.save()
        for deleted in formset.deleted_objects:
            deleted.delete()


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ("name", "image_set", "class_name", "is_practice", "is_attention_check", "width", "height")
    list_filter = ("image_set", "is_practice", "is_attention_check")
    readonly_fields = ("sha256", "width", "height")

    def save_model(self, request, obj, form, change):
        services.image_fill_file_facts(obj)
        super().save_model(request, obj, form, change)


@admin.action(description="Compute model maps for the selected studies")
def compute_maps(modeladmin, request, queryset):
    for study in queryset:
        try:
            job = compute_job_create(study=study)
        except ValueError as error:
            modeladmin.message_user(request, f"{study.slug}: {error}", messages.ERROR)
        else:
            modeladmin.message_user(request, f"{study.slug}: queued {job.total} image x model units")


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ("slug", "title", "image_set", "status", "links")
    prepopulated_fields = {"slug": ("title",)}
    filter_horizontal = ("model_specs",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = [compute_maps]

    @admin.display(description="Links")
    def links(self, study):
        return format_html(
            '<a href="/s/{}/">participant link</a> · <a href="/research/{}/">results</a>',
            study.slug,
            study.slug,
        )


class TrialInline(admin.TabularInline):
    model = Trial
    extra = 0
    fields = ("position", "kind", "image", "status", "attention_passed", "shown_at", "completed_at")
    readonly_fields = fields
    can_delete = False


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = (
        "pk",
        "study",
        "prolific_pid",
        "mturk_worker_id",
        "is_bot",
        "flagged",
        "screened_out",
        "consented_at",
        "finished_at",
    )
    list_filter = ("study", "is_bot", "flagged", "screened_out")
    readonly_fields = ("code",)
    inlines = [TrialInline]

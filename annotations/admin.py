from django.contrib import admin

from annotations.models import Annotation


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = (
        "pk",
        "trial",
        "width",
        "height",
        "coverage",
        "timed_out",
        "time_on_task_ms",
        "created_at",
    )
    exclude = ("map_png",)
    readonly_fields = (
        "trial",
        "width",
        "height",
        "bit_depth",
        "strokes",
        "time_on_task_ms",
        "canvas_width",
        "canvas_height",
        "device_pixel_ratio",
        "idempotency_key",
    )

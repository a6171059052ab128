from django.contrib import admin

from explain.models import ComputeJob, ModelSpec, Prediction, SaliencyMap


@admin.register(ModelSpec)
class ModelSpecAdmin(admin.ModelAdmin):
    list_display = ("name", "source", "architecture", "input_size", "weights_sha256")
    readonly_fields = ("weights_sha256",)


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
    list_display = ("image", "model", "method", "target_class", "runtime_s", "device", "created_at")
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
        "runtime_s",
        "device",
        "versions",
        "weights_sha256",
    )


@admin.register(ComputeJob)
class ComputeJobAdmin(admin.ModelAdmin):
    list_display = (
        "pk",
        "study",
        "status",
        "done_count",
        "failed_count",
        "total",
        "created_at",
        "finished_at",
    )
    readonly_fields = (
        "study",
        "status",
        "total",
        "done_count",
        "failed_count",
        "errors",
        "started_at",
        "finished_at",
    )

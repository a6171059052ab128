import numpy as np
from django.db import models

from analysis import codec
from explain.targets import TargetPolicy


class ModelSpec(models.Model):
    class Source(models.TextChoices):
        EFFICIENTNET_LITE0 = "efficientnet_lite0_package", "EfficientNet-Lite0 (offline ImageNet weights)"
        TORCHVISION = "torchvision", "torchvision architecture + weights file"
        TIMM = "timm", "timm architecture + weights file"
        TORCHSCRIPT = "torchscript", "TorchScript file"
        WATERMARK_CNN = "watermark_cnn", "Built-in biased watermark CNN (train_biased_model)"

    name = models.SlugField(unique=True)
    source = models.CharField(max_length=40, choices=Source.choices)
    architecture = models.CharField(max_length=100, blank=True, help_text="e.g. resnet50, vgg16")
    weights_file = models.FileField(
        upload_to="weights/", blank=True, help_text="A state_dict saved by torch.save."
    )
    input_size = models.PositiveIntegerField(default=224)
    mean = models.JSONField(default=list, help_text="Per-channel mean for normalisation.")
    std = models.JSONField(default=list, help_text="Per-channel std for normalisation.")
    class_names = models.JSONField(
        default=list, blank=True, help_text="Empty means the 1000 ImageNet classes."
    )
    weights_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Prediction(models.Model):
    image = models.ForeignKey("catalogue.Image", on_delete=models.CASCADE, related_name="predictions")
    model = models.ForeignKey(ModelSpec, on_delete=models.CASCADE, related_name="predictions")
    top5 = models.JSONField(help_text='[{"index": 285, "name": "Egyptian cat", "probability": 0.77}, ...]')
    weights_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "model"], name="one_prediction_per_image_model")
        ]


class SaliencyMap(models.Model):
    image = models.ForeignKey("catalogue.Image", on_delete=models.CASCADE, related_name="saliency_maps")
    model = models.ForeignKey(ModelSpec, on_delete=models.CASCADE, related_name="saliency_maps")
    method = models.CharField(max_length=50)
    target_class = models.IntegerField()
    params = models.JSONField()
    params_hash = models.CharField(max_length=64)
    map_npy = models.BinaryField(help_text="(H,W) float32 .npy at the model's input resolution.")
    ranks_npy = models.BinaryField(
        null=True, blank=True, help_text="XRAI's ranked regions, (H,W) int32 .npy."
    )
    details = models.JSONField(default=dict, help_text="Completeness gap, region count, ...")
    runtime_s = models.FloatField()
    device = models.CharField(max_length=50)
    versions = models.JSONField(default=dict)
    weights_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["image", "model", "method", "params_hash", "target_class"],
                name="one_map_per_cache_key",
            )
        ]

    def map_array(self) -> np.ndarray:
        return codec.npy_array(self.map_npy)

    def ranks_array(self) -> np.ndarray | None:
        return None if self.ranks_npy is None else codec.npy_array(self.ranks_npy)

    @staticmethod
    def encode(array: np.ndarray) -> bytes:
        return codec.npy_bytes(array)


class ComputeJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Done with failures"
        CANCELLED = "cancelled", "Cancelled"

    # What asked for the job; the job itself records everything the worker needs below, so
    # the compute side never reads a study.
    study = models.ForeignKey(
        "study.Study", null=True, blank=True, on_delete=models.CASCADE, related_name="compute_jobs"
    )
    methods = models.JSONField(default=list, help_text="Saliency method names, in order.")
    method_params = models.JSONField(default=dict, help_text="Every parameter of each method.")
    target_policy = models.CharField(
        max_length=30, choices=TargetPolicy.choices, default=TargetPolicy.LABEL_OR_PREDICTED
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0, help_text="Image x model units of work.")
    done_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        owner = f" for {self.study.slug}" if self.study_id else ""
        return f"compute job {self.pk}{owner}: {self.done_count}/{self.total}"


class ComputeUnit(models.Model):
    """One image x model of a compute job: the prediction and every map the study asks for.
    Counting units by status (not by incrementing) keeps progress exact when the broker
    delivers a task twice."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    job = models.ForeignKey(ComputeJob, on_delete=models.CASCADE, related_name="units")
    image = models.ForeignKey("catalogue.Image", on_delete=models.CASCADE, related_name="compute_units")
    model = models.ForeignKey(ModelSpec, on_delete=models.CASCADE, related_name="compute_units")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["job", "image", "model"], name="one_unit_per_job_image_model")
        ]


class WorkerHeartbeat(models.Model):
    """The last sign of life of one Celery worker process, for /healthz/worker. In the
    database so that the web servers see workers on other machines."""

    hostname = models.CharField(max_length=200, unique=True)
    pid = models.PositiveIntegerField()
    queues = models.JSONField(default=list)
    device = models.CharField(max_length=100, help_text="cuda:0 (name) or cpu")
    cuda_visible_devices = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.hostname} ({self.device}), last seen {self.last_seen:%Y-%m-%d %H:%M:%S}"

import numpy as np
from django.db import models

from analysis import codec
from explain.packaged_models import PACKAGED_MODELS
from explain.targets import TargetPolicy


class ModelSpec(models.Model):
    class Source(models.TextChoices):
        EFFICIENTNET_LITE0 = (
            "efficientnet_lite0_package",
            "EfficientNet-Lite0 (offline ImageNet weights, 224 px)",
        )
        EFFICIENTNET_LITE1 = (
            "efficientnet_lite1_package",
            "EfficientNet-Lite1 (offline ImageNet weights, 240 px)",
        )
        EFFICIENTNET_LITE2 = (
            "efficientnet_lite2_package",
            "EfficientNet-Lite2 (offline ImageNet weights, 260 px)",
        )
        TORCHVISION = "torchvision", "torchvision architecture + pretrained weights by name or a weights file"
        TIMM = "timm", "timm architecture + pretrained weights by name or a weights file"
        TORCHSCRIPT = "torchscript", "TorchScript file"
        TORCH_EXPORT = "torch_export", "torch.export program (.pt2)"
        WATERMARK_CNN = "watermark_cnn", "Built-in biased watermark CNN (train_biased_model)"

    class Interpolation(models.TextChoices):
        BILINEAR = "bilinear", "bilinear"
        BICUBIC = "bicubic", "bicubic"
        NEAREST = "nearest", "nearest"

    class Resize(models.TextChoices):
        # Maps must cover what participants paint on, so no model sees a crop.
        WHOLE_IMAGE = "whole_image", "whole image resized to input_size x input_size, no crop"

    name = models.SlugField(unique=True)
    source = models.CharField(max_length=40, choices=Source.choices)
    architecture = models.CharField(
        max_length=100, blank=True, help_text="e.g. resnet50, vgg16, inception_v3; timm: resnet18.a1_in1k"
    )
    pretrained_weights = models.CharField(
        max_length=100,
        blank=True,
        help_text="torchvision or timm: the published weights to use instead of a file: a torchvision "
        "weights name (IMAGENET1K_V1) or a timm pretrained tag (a1_in1k), or DEFAULT. Fetched once "
        "into the library's cache (TORCH_HOME, HF_HOME); the input size, mean, std and "
        "interpolation are then the weights' own.",
    )
    weights_file = models.FileField(
        upload_to="weights/",
        blank=True,
        help_text="torchvision, timm: a state_dict saved by torch.save; TorchScript: a file of "
        "torch.jit.save; torch.export: a .pt2 of torch.export.save, exported in eval mode with a "
        "dynamic batch.",
    )
    input_size = models.PositiveIntegerField(default=224)
    resize = models.CharField(
        max_length=20, choices=Resize.choices, default=Resize.WHOLE_IMAGE, editable=False
    )
    interpolation = models.CharField(
        max_length=10,
        choices=Interpolation.choices,
        default=Interpolation.BICUBIC,
        help_text="The resize filter.",
    )
    mean = models.JSONField(
        default=list,
        blank=True,
        help_text="Per-channel mean for normalisation, e.g. [0.485, 0.456, 0.406]. Filled in from the "
        "weights for the offline models and weights by name; left empty otherwise: ImageNet's.",
    )
    std = models.JSONField(
        default=list,
        blank=True,
        help_text="Per-channel std for normalisation, e.g. [0.229, 0.224, 0.225]; empty as for mean.",
    )
    weights_preprocessing = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text="The recipe the weights were published with (their resize, crop, mean, std), "
        "as their metadata states it; for the record.",
    )
    class_names = models.JSONField(
        default=list, blank=True, help_text="Empty means the 1000 ImageNet classes."
    )
    head = models.CharField(
        max_length=100,
        blank=True,
        help_text="A model with several heads (returning a tuple, list or dict of logits): the head "
        "this model explains, by name (a dict key) or position (0, 1, ...); class_names are that "
        "head's. Add the same file once per head, e.g. styles-style and styles-place.",
    )
    weights_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    @property
    def needs_weights_file(self) -> bool:
        return self.source not in PACKAGED_MODELS and not self.pretrained_weights

    @property
    def has_own_preprocessing(self) -> bool:
        """Packaged models and weights by name bring their preprocessing; it is not entered."""
        return self.source in PACKAGED_MODELS or bool(self.pretrained_weights)

    def resolve_preprocessing(self) -> None:
        """Set input_size, mean, std, interpolation and weights_preprocessing from the
        weights' own metadata (packaged models and weights by name; others keep what was
        entered). ValueError when the weights name is unknown."""
        if self.source in PACKAGED_MODELS:
            fields = PACKAGED_MODELS[self.source].preprocessing()
        elif self.pretrained_weights:
            from explain.pretrained import pretrained_preprocessing

            fields = pretrained_preprocessing(
                self.source, self.architecture, self.pretrained_weights
            ).as_fields()
        else:
            return
        for field, value in fields.items():
            setattr(self, field, value)

    def preprocessing(self) -> dict:
        """What is done to an image before the model sees it, as exports state it."""
        return {
            "input_size": self.input_size,
            "resize": self.get_resize_display(),
            "interpolation": self.interpolation,
            "scale": "pixel values / 255",
            "mean": list(self.mean),
            "std": list(self.std),
            "weights_preprocessing": self.weights_preprocessing,
        }

    def save(self, *args, **kwargs):
        # Stored, not implied: exports state the normalisation each map was computed with.
        self.resolve_preprocessing()
        super().save(*args, **kwargs)


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


class DiagnosticResult(models.Model):
    """One faithfulness check (explain.diagnostic_settings.CHECKS) of one map: a method's map
    of an image x model, or the participants' mean map (subject "human_mean") judged with that
    model. Cached by what the result depends on: the map (``map_key``: the method's
    params_hash, or the sha256 of the mean map's .npy) and the check's parameters."""

    image = models.ForeignKey("catalogue.Image", on_delete=models.CASCADE, related_name="diagnostics")
    model = models.ForeignKey(ModelSpec, on_delete=models.CASCADE, related_name="diagnostics")
    subject = models.CharField(max_length=50, help_text='A saliency method, or "human_mean".')
    target_class = models.IntegerField()
    check_name = models.CharField(max_length=30)
    map_key = models.CharField(max_length=64)
    parameters = models.JSONField(help_text="The check's parameters.")
    settings_hash = models.CharField(max_length=64)
    result = models.JSONField(help_text="Curves, areas, scores; or why the check skipped the image.")
    runtime_s = models.FloatField()
    weights_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    *("image", "model", "subject", "target_class"),
                    *("check_name", "map_key", "settings_hash"),
                ],
                name="one_diagnostic_per_cache_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.check_name} of {self.subject} on image {self.image_id} x {self.model}"


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
    diagnostics = models.JSONField(
        default=dict,
        blank=True,
        help_text="Faithfulness checks to run after the maps (explain.diagnostic_settings, resolved); "
        "empty: maps only.",
    )
    randomisation_image_ids = models.JSONField(
        default=list, blank=True, help_text="The images of the model-parameter randomisation test."
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
    reference_map_npy = models.BinaryField(
        null=True,
        blank=True,
        help_text="The participants' mean map of the image (H, W) float32 .npy, diagnosed as one more "
        "subject; recorded by whoever queued the job, so the worker reads no study.",
    )
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["job", "image", "model"], name="one_unit_per_job_image_model")
        ]

    def __str__(self) -> str:
        return f"unit {self.pk} of job {self.job_id}: image {self.image_id} x model {self.model_id}"


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

import io

import numpy as np
from django.db import models
from PIL import Image as PILImage


class Annotation(models.Model):
    """A participant's painted map for one trial, kept exactly as submitted."""

    trial = models.OneToOneField("study.Trial", on_delete=models.CASCADE, related_name="annotation")
    map_png = models.BinaryField(help_text="Grayscale PNG (8 or 16 bit) at the image's resolution.")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    bit_depth = models.PositiveSmallIntegerField()
    strokes = models.JSONField(default=list, help_text="The stroke log, for replay and provenance.")
    time_on_task_ms = models.PositiveIntegerField(null=True, blank=True)
    canvas_width = models.PositiveIntegerField(null=True, blank=True)
    canvas_height = models.PositiveIntegerField(null=True, blank=True)
    device_pixel_ratio = models.FloatField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=64, blank=True)
    focus_events = models.JSONField(default=list, blank=True, help_text='[["blur", ms since page load], ...]')
    timed_out = models.BooleanField(default=False)
    coverage = models.FloatField(null=True, blank=True, help_text="Share of pixels painted >= 0.05.")
    # Data-quality flags the server found at submission, [{"code": ..., "detail": ...}, ...]
    # (codes in annotations.services.FLAG_CODES). A flagged map is kept but left out of the
    # analysis unless the researcher includes flagged maps.
    flags = models.JSONField(default=list, blank=True, help_text='[{"code": "too_fast", "detail": "..."}]')
    created_at = models.DateTimeField(auto_now_add=True)

    def map_array(self) -> np.ndarray:
        """The painted intensity, (H,W) float32 in [0,1]."""
        with PILImage.open(io.BytesIO(bytes(self.map_png))) as image:
            values = np.asarray(image)
        return (values.astype(np.float32) / float(2**self.bit_depth - 1)).clip(0, 1)

    @property
    def flag_codes(self) -> list[str]:
        return [flag["code"] for flag in self.flags]

    def __str__(self) -> str:
        return f"annotation of trial {self.trial_id}"

"""Image sets and images: what participants paint on and models explain."""

from django.db import models


class ImageSet(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "study_imageset"  # created by the study app before the catalogue existed

    def __str__(self) -> str:
        return self.name


class Image(models.Model):
    image_set = models.ForeignKey(ImageSet, on_delete=models.CASCADE, related_name="images")
    name = models.CharField(max_length=200, help_text="Short name used in exports, e.g. 'chelsea'.")
    file = models.ImageField(upload_to="images/")
    sha256 = models.CharField(max_length=64, editable=False)
    width = models.PositiveIntegerField(editable=False)
    height = models.PositiveIntegerField(editable=False)
    class_index = models.IntegerField(null=True, blank=True, help_text="ImageNet class index, if known.")
    class_name = models.CharField(max_length=200, blank=True)
    is_practice = models.BooleanField(default=False, help_text="Shown as a practice trial, never analysed.")
    is_attention_check = models.BooleanField(
        default=False, help_text="Has a known target region; painting mostly outside it fails the check."
    )
    target_mask_png = models.BinaryField(
        null=True, blank=True, help_text="Binary PNG mask of the target region (attention checks)."
    )
    thumbnail = models.ImageField(upload_to="thumbnails/", blank=True, editable=False)
    # What participants are shown (catalogue/renditions.py): [{"format", "width", "height",
    # "name"}, ...], files in the default storage under renditions/. Empty: the original is shown.
    renditions = models.JSONField(default=list, blank=True, editable=False)
    # Cue-conflict images (shape of one class, texture of another): class_index is the shape's.
    texture_class_index = models.IntegerField(
        null=True, blank=True, help_text="Cue-conflict images: the texture's ImageNet class index."
    )
    texture_class_name = models.CharField(max_length=200, blank=True)
    ground_truth_mask_png = models.BinaryField(
        null=True, blank=True, help_text="Binary PNG mask of the object, for localisation metrics."
    )
    ground_truth_boxes = models.JSONField(
        default=list, blank=True, help_text="Object boxes [[left, top, right, bottom], ...] in pixels."
    )
    watermark_box = models.JSONField(
        null=True,
        blank=True,
        help_text="Biased-model images: [left, top, right, bottom] of the shortcut watermark, if any.",
    )
    # Variants (corrupted copies) are computed by the models but never shown to participants;
    # their maps are compared with the human map of the original.
    variant_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="variants"
    )
    corruption = models.CharField(max_length=40, blank=True, help_text="e.g. glass_blur")
    severity = models.PositiveSmallIntegerField(null=True, blank=True, help_text="1-5")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "study_image"  # created by the study app before the catalogue existed
        ordering = ["image_set", "name"]
        constraints = [
            models.UniqueConstraint(fields=["image_set", "sha256"], name="unique_image_content_per_set"),
            models.UniqueConstraint(fields=["image_set", "name"], name="unique_image_name_per_set"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.width}x{self.height})"

"""Forms of the image admin pages: bulk upload, ground truth."""

from django import forms

from catalogue.class_names import model_vocabularies
from catalogue.models import Image, ImageSet


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one input (Django's documented pattern); cleans to a list."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        one = super().clean
        if isinstance(data, list | tuple):
            if not data:
                return [one(None, initial)]  # raises "required"
            return [one(item, initial) for item in data]
        return [one(data, initial)]


class ImageUploadForm(forms.Form):
    files = MultipleFileField(
        label="Images or ZIPs", help_text="Select many files at once; ZIP files are unpacked."
    )
    labels = forms.FileField(
        required=False,
        label="Labels CSV",
        help_text="Columns: file, label (index or class name), practice, attention_check, "
        "texture_label, box.",
    )
    model = forms.ChoiceField(
        choices=lambda: [("", "ImageNet (1000 classes)"), *((name, name) for name in model_vocabularies())],
        required=False,
        label="Check labels against",
        help_text="The model whose class names the labels must match.",
    )


class ImageSetAddForm(forms.ModelForm):
    """A new image set and, optionally, its first images (the upload form's fields)."""

    class Meta:
        model = ImageSet
        fields = ("name", "description")

    files = MultipleFileField(
        required=False,
        label="Images or ZIPs",
        help_text="Optional: add images now (or later on the set's page). ZIP files are unpacked.",
    )
    labels = ImageUploadForm.base_fields["labels"]
    model = ImageUploadForm.base_fields["model"]

    def uploaded_files(self) -> list:
        return [upload for upload in self.cleaned_data["files"] if upload]


class VariantOfField(forms.ModelChoiceField):
    """An original image, labelled so that two images of the same name and size in different
    sets (a "cat_crop (320x260)" in each) can be told apart."""

    def label_from_instance(self, image: Image) -> str:
        return f"{image.name} ({image.width}x{image.height}) in {image.image_set.name}, #{image.pk}"


class GroundTruthForm(forms.Form):
    mask = forms.FileField(
        required=False,
        label="Ground-truth mask",
        help_text="A PNG exactly the image's size: the object light (or opaque), the rest dark.",
    )
    clear_mask = forms.BooleanField(required=False, label="Remove the ground-truth mask")
    boxes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 40}),
        label="Ground-truth boxes",
        help_text="One box per line: left top right bottom, in pixels. Empty removes them.",
    )

"""Admin pieces for models: a form that test-loads a model before it is saved, and the
"Test load" page and action (top-5 classes of a sample image, load time, weights hash).
The work is done by explain.services.model_spec_check / model_spec_test_load."""

import tempfile
from contextlib import contextmanager

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path

from explain import samples, services
from explain.models import ModelSpec

# Which form field a settings error belongs to, by the start of model_zoo's message.
_FIELD_OF_ERROR = ("class_names", "mean", "std", "input_size")


@contextmanager
def _weights_on_disk(value):
    """The path of the weights the form would save: a new upload (written to a temporary
    file if it is held in memory), the spec's current file, or None."""
    if isinstance(value, UploadedFile):
        if hasattr(value, "temporary_file_path"):
            yield value.temporary_file_path()
            return
        with tempfile.NamedTemporaryFile(suffix=".pt") as handle:
            for chunk in value.chunks():
                handle.write(chunk)
            handle.flush()
            value.seek(0)  # the upload is saved from the start afterwards
            yield handle.name
        return
    yield value.path if value else None


class ModelSpecForm(forms.ModelForm):
    """Saving a model first builds it and runs it once; if that fails nothing is saved and
    the reason is shown on the form."""

    class Meta:
        model = ModelSpec
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["interpolation"].required = False  # left out: bicubic, as before the field

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        cleaned["interpolation"] = cleaned.get("interpolation") or ModelSpec.Interpolation.BICUBIC
        candidate = ModelSpec(
            name=cleaned.get("name") or "new model",
            source=cleaned.get("source"),
            architecture=cleaned.get("architecture") or "",
            pretrained_weights=(cleaned.get("pretrained_weights") or "").strip(),
            input_size=cleaned.get("input_size"),
            interpolation=cleaned["interpolation"],
            mean=cleaned.get("mean") or [],
            std=cleaned.get("std") or [],
            class_names=cleaned.get("class_names") or [],
            head=(cleaned.get("head") or "").strip(),
        )
        try:
            if candidate.pretrained_weights and candidate.source not in ("torchvision", "timm"):
                raise ValueError("pretrained weights by name need the source torchvision or timm")
            if candidate.pretrained_weights and cleaned.get("weights_file"):
                raise ValueError("give either pretrained weights by name or a weights file, not both")
            with _weights_on_disk(cleaned.get("weights_file")) as weights_path:
                if weights_path is None and candidate.needs_weights_file:
                    raise ValueError(
                        "this source needs a weights file (torchvision, timm: or pretrained weights by name)"
                    )
                loaded = services.model_spec_check(candidate, weights_path=weights_path)
            self.instance.weights_sha256 = loaded.weights_sha256
        except ValueError as error:
            message = str(error)
            field = next((name for name in _FIELD_OF_ERROR if message.startswith(name)), None)
            if field:
                self.add_error(field, message)
            else:
                raise ValidationError(f"The model does not load: {message}") from None
        if candidate.has_own_preprocessing:  # the weights' own, shown once saved
            for field in ("input_size", "interpolation", "mean", "std"):
                cleaned[field] = getattr(candidate, field)
        return cleaned


class TestLoadForm(forms.Form):
    sample = forms.ChoiceField(
        choices=list(samples.SAMPLE_IMAGES.items()),
        initial=samples.DEFAULT_SAMPLE,
        help_text="An image that ships with the platform (no upload needed).",
    )


def test_load_view(request, object_id, *, model_admin):
    spec = get_object_or_404(ModelSpec, pk=object_id)
    if not model_admin.has_view_permission(request, spec):
        raise PermissionDenied
    result, error = None, None
    form = TestLoadForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            result = services.model_spec_test_load(spec=spec, sample=form.cleaned_data["sample"])
        except ValueError as failure:
            error = str(failure)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": ModelSpec._meta,
        "original": spec,
        "title": f"Test load: {spec.name}",
        "form": form,
        "result": result,
        "error": error,
    }
    refused = request.method == "POST" and not form.is_valid()  # e.g. a sample that does not exist
    return TemplateResponse(
        request, "admin/explain/modelspec/test_load.html", context, status=400 if refused else 200
    )


def model_spec_urls(model_admin) -> list:
    view = model_admin.admin_site.admin_view(
        lambda request, object_id: test_load_view(request, object_id, model_admin=model_admin)
    )
    return [path("<int:object_id>/test-load/", view, name="explain_modelspec_test_load")]


def _top5_text(result: dict) -> str:
    return ", ".join(f"{row['name']} {row['probability']:.1%}" for row in result["top5"])


@admin.action(description="Test load on the cat image (top-5 classes)")
def test_load_action(model_admin, request, queryset):
    for spec in queryset:
        try:
            result = services.model_spec_test_load(spec=spec)
        except ValueError as error:
            model_admin.message_user(request, f"{spec.name}: does not load: {error}", messages.ERROR)
            continue
        model_admin.message_user(
            request,
            f"{spec.name}: loaded in {result['load_seconds']:.1f} s; {_top5_text(result)}; "
            f"weights sha256 {result['weights_sha256'][:12]}…",
            messages.SUCCESS,
        )

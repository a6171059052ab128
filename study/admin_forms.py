"""Forms for the admin's own pages (beyond the model forms Django makes)."""

from django import forms

from catalogue.models import ImageSet
from catalogue.variants import DEFAULT_CORRUPTIONS
from explain.models import ModelSpec
from explain.saliency.registry import method_names
from study import presets
from study.models import Study


def _corruption_choices() -> list[tuple[str, str]]:
    from catalogue.corruptions import CORRUPTIONS

    return [(name, name.replace("_", " ")) for name in CORRUPTIONS]


class StudyFromTemplateForm(forms.Form):
    template = forms.ChoiceField(
        choices=[(key, Study.Template(key).label) for key in presets.PRESETS],
        widget=forms.RadioSelect,
    )
    image_set = forms.ModelChoiceField(
        ImageSet.objects.all(),
        required=False,
        help_text="Not needed for the biased model: it uses the set train_biased_model made.",
    )
    models = forms.ModelMultipleChoiceField(
        ModelSpec.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=(
            "Compare models needs two or more (none chosen: the three offline EfficientNet-Lite "
            "models); the biased model adds the watermark CNN itself."
        ),
    )
    title = forms.CharField(max_length=200, required=False, help_text="Default: template and image set.")
    slug = forms.SlugField(required=False, help_text="Default: made from the title.")
    methods = forms.MultipleChoiceField(
        choices=[(name, name) for name in method_names()],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Default: XRAI and Integrated Gradients.",
    )
    corruptions = forms.MultipleChoiceField(
        choices=_corruption_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Corruptions template only. Default: " + ", ".join(DEFAULT_CORRUPTIONS) + ".",
    )
    severities = forms.TypedMultipleChoiceField(
        choices=[(str(level), str(level)) for level in range(1, 6)],
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Corruptions template only. Default: "
        + ", ".join(map(str, presets.DEFAULT_SEVERITIES))
        + ".",
    )
    compute_now = forms.BooleanField(
        required=False,
        initial=False,
        label="Queue the model maps now",
        help_text="Otherwise later, from the results page, which shows how many units and how long first.",
    )

"""The admin action "Generate corruption variants" (on images and on image sets): an
intermediate page to choose corruptions and severities, then one service call.

The corruptions (scipy.signal, scipy.ndimage, numba: about 1-3 s) are imported when the page
or the action is used, not with this module: every process that sets Django up (the web
servers, the workers, each management command) imports the admin modules."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from catalogue.models import Image, ImageSet

SEVERITIES = (1, 2, 3, 4, 5)  # ImageNet-C's; catalogue.corruptions checks a severity it is given


def _corruption_choices() -> list[tuple[str, str]]:
    from catalogue.corruptions import CORRUPTIONS

    return [(name, name.replace("_", " ")) for name in CORRUPTIONS]


def _default_corruptions() -> list[str]:
    from catalogue.variants import DEFAULT_CORRUPTIONS

    return list(DEFAULT_CORRUPTIONS)


class VariantsForm(forms.Form):
    corruptions = forms.MultipleChoiceField(
        choices=_corruption_choices,
        initial=_default_corruptions,
        widget=forms.CheckboxSelectMultiple,
    )
    severities = forms.TypedMultipleChoiceField(
        choices=[(s, str(s)) for s in SEVERITIES],
        coerce=int,
        initial=list(SEVERITIES),
        widget=forms.CheckboxSelectMultiple,
        help_text="ImageNet-C's severities: 1 mild to 5 strongest.",
    )
    seed = forms.IntegerField(initial=0, min_value=0, help_text="Random seed of the noise and shuffles.")


def _create(queryset, data) -> int:
    from catalogue.variants import image_set_variants_create, image_variants_create

    arguments = {"corruptions": data["corruptions"], "severities": data["severities"], "seed": data["seed"]}
    if queryset.model is ImageSet:
        return sum(len(image_set_variants_create(image_set=s, **arguments)) for s in queryset)
    return sum(len(image_variants_create(image=image, **arguments)) for image in queryset)


@admin.action(description="Generate corruption variants")
def generate_variants(modeladmin, request, queryset):
    form = VariantsForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        try:
            count = _create(queryset, form.cleaned_data)
        except ValueError as error:
            modeladmin.message_user(request, f"no variants made: {error}", messages.ERROR)
        else:
            modeladmin.message_user(request, f"{count} variants (new or already there)")
        return None  # back to the list
    what = "image sets" if queryset.model is ImageSet else "images"
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.model._meta,
        "title": f"Generate corruption variants of {queryset.count()} {what}",
        "form": form,
        "queryset": queryset,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "originals_only": queryset.model is Image,
    }
    refused = "apply" in request.POST  # the choices were sent and are not valid
    return TemplateResponse(
        request, "admin/catalogue/variants_form.html", context, status=400 if refused else 200
    )

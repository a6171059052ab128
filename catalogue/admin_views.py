"""Admin pages for image sets and images: bulk upload, the region painter, ground truth, and
the image files themselves (media is not served publicly). Reached through the ModelAdmins'
get_urls, wrapped in admin_site.admin_view (staff only)."""

from functools import partial

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from analysis.codec import decode_gray_png
from catalogue import image_regions
from catalogue.admin_forms import GroundTruthForm, ImageSetAddForm, ImageUploadForm
from catalogue.admin_status import form_page
from catalogue.image_import import ImageImportError, import_images, parse_boxes, read_labels_csv
from catalogue.models import Image, ImageSet


def _changeable(model_admin, request, model, object_id):
    obj = get_object_or_404(model, pk=object_id)
    if not model_admin.has_change_permission(request, obj):
        raise PermissionDenied
    return obj


def image_set_upload(request, object_id, *, model_admin):
    image_set = _changeable(model_admin, request, ImageSet, object_id)
    errors = []
    if request.method == "POST":
        form = ImageUploadForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                labels = data["labels"]
                result = import_images(
                    image_set_name=image_set.name,
                    sources=data["files"],
                    labels_csv=read_labels_csv(labels.read(), labels.name) if labels else None,
                    labels_csv_name=labels.name if labels else "labels CSV",
                    model_name=data["model"] or None,
                )
            except ImageImportError as error:
                errors = error.errors
            else:
                messages.success(request, result.summary())
                for skipped in result.skipped_duplicates:
                    messages.info(request, f"Skipped duplicate {skipped}")
                return redirect("admin:catalogue_imageset_change", image_set.pk)
    else:
        form = ImageUploadForm()
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": ImageSet._meta,
        "original": image_set,
        "title": f"Upload images to {image_set.name}",
        "form": form,
        "import_errors": errors,
    }
    refused = request.method == "POST"  # a valid upload has redirected
    return form_page(request, "admin/catalogue/imageset/upload.html", context, refused=refused)


def image_set_add(request, *, model_admin):
    """ "Add image set": its name and description and, optionally, its first images. Nothing is
    created unless every image is accepted (the set is made in the same transaction)."""
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    errors = []
    if request.method == "POST":
        form = ImageSetAddForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    image_set = form.save()
                    result = None
                    if form.uploaded_files():
                        labels = data["labels"]
                        result = import_images(
                            image_set_name=image_set.name,
                            sources=form.uploaded_files(),
                            labels_csv=read_labels_csv(labels.read(), labels.name) if labels else None,
                            labels_csv_name=labels.name if labels else "labels CSV",
                            model_name=data["model"] or None,
                        )
            except ImageImportError as error:
                errors = error.errors
            else:
                model_admin.log_addition(request, image_set, [{"added": {}}])
                messages.success(request, f"Image set {image_set.name} created.")
                if result is not None:
                    messages.success(request, result.summary())
                return redirect("admin:catalogue_imageset_change", image_set.pk)
    else:
        form = ImageSetAddForm()
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": ImageSet._meta,
        "title": "Add image set",
        "form": form,
        "import_errors": errors,
    }
    return form_page(request, "admin/catalogue/imageset/add.html", context, refused=request.method == "POST")


def _data_url_png(data) -> str | None:
    import base64

    return "data:image/png;base64," + base64.b64encode(bytes(data)).decode() if data else None


def image_regions_page(request, object_id, *, model_admin):
    """The target-region painter and the ground-truth form of one image."""
    image = _changeable(model_admin, request, Image, object_id)
    here = reverse("admin:catalogue_image_regions", args=[image.pk])
    if request.method == "POST" and request.POST.get("action") == "clear_target":
        image_regions.image_clear_target(image=image)
        messages.success(request, "The target region was removed.")
        return redirect(here)
    refused = False
    if request.method == "POST":
        form = GroundTruthForm(request.POST, request.FILES)
        if form.is_valid() and _save_ground_truth(request, image, form):
            return redirect(here)
        refused = True
    else:
        boxes = "\n".join(" ".join(str(n) for n in box) for box in image.ground_truth_boxes)
        form = GroundTruthForm(initial={"boxes": boxes})
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Image._meta,
        "original": image,
        "title": f"Regions of {image.name}",
        "form": form,
        "target_mask_url": _data_url_png(image.target_mask_png),
        "ground_truth_mask_url": _data_url_png(image.ground_truth_mask_png),
        "painter_config": {
            "width": image.width,
            "height": image.height,
            "imageUrl": reverse("admin:catalogue_image_file", args=[image.pk]),
            "submitUrl": reverse("admin:catalogue_image_target", args=[image.pk]),
            "minCoverage": 0,
        },
    }
    return form_page(request, "admin/study/image/regions.html", context, refused=refused)


def _save_ground_truth(request, image: Image, form: GroundTruthForm) -> bool:
    """Validate both parts before writing either, so a bad box does not leave a new mask."""
    data = form.cleaned_data
    mask_png = data["mask"].read() if data["mask"] else None
    try:
        parse_boxes(data["boxes"], image.width, image.height)
    except ValueError as error:
        form.add_error("boxes", str(error))
        return False
    if mask_png is not None:
        try:
            pixels = image_regions.image_set_ground_truth_mask(image=image, png=mask_png)
        except ValueError as error:
            form.add_error("mask", str(error))
            return False
        messages.success(request, f"Ground-truth mask stored ({pixels} pixels).")
    elif data["clear_mask"]:
        image_regions.image_clear_ground_truth_mask(image=image)
        messages.success(request, "The ground-truth mask was removed.")
    boxes = image_regions.image_set_ground_truth_boxes(image=image, text=data["boxes"])
    messages.success(request, f"{len(boxes)} ground-truth box(es) stored.")
    return True


@require_POST
def image_target(request, object_id, *, model_admin):
    """The painter's endpoint: the painted map, binarised at >= 0.5, becomes the target region.
    Answers as the participants' endpoint does: {"next_url"} or {"error"}."""
    image = _changeable(model_admin, request, Image, object_id)
    upload = request.FILES.get("map")
    if upload is None:
        return JsonResponse({"error": "no map file was sent (field 'map')"}, status=400)
    try:
        values, _ = decode_gray_png(upload.read(), width=image.width, height=image.height)
        pixels = image_regions.image_set_target_from_map(image=image, values=values)
    except ValueError as error:
        return JsonResponse({"error": str(error)}, status=400)
    share = pixels / (image.width * image.height)
    messages.success(request, f"Target region stored: {pixels} pixels ({share:.1%} of the image).")
    return JsonResponse(
        {"next_url": reverse("admin:catalogue_image_regions", args=[image.pk]), "pixels": pixels}
    )


def image_file(request, object_id, *, model_admin):
    image = get_object_or_404(Image, pk=object_id)
    if not model_admin.has_view_permission(request, image):
        raise PermissionDenied
    try:
        return FileResponse(image.file.open("rb"))
    except FileNotFoundError:
        raise Http404("image file missing") from None


def image_thumbnail(request, object_id, *, model_admin):
    image = get_object_or_404(Image, pk=object_id)
    if not model_admin.has_view_permission(request, image):
        raise PermissionDenied
    if not image.thumbnail:
        raise Http404("no thumbnail yet: run manage.py make_thumbnails")
    try:
        response = FileResponse(image.thumbnail.open("rb"), content_type="image/jpeg")
    except FileNotFoundError:
        raise Http404("thumbnail file missing") from None
    response["Cache-Control"] = "private, max-age=3600"
    return response


# ---------------------------------------------------------------- wiring into the ModelAdmins


def image_set_urls(model_admin) -> list:
    from django.urls import path

    wrap = model_admin.admin_site.admin_view
    return [
        path(
            "<int:object_id>/upload/",
            wrap(partial(image_set_upload, model_admin=model_admin)),
            name="catalogue_imageset_upload",
        ),
    ]


def image_urls(model_admin) -> list:
    from django.urls import path

    wrap = model_admin.admin_site.admin_view
    views = [
        ("regions/", image_regions_page, "catalogue_image_regions"),
        ("regions/target", image_target, "catalogue_image_target"),
        ("file", image_file, "catalogue_image_file"),
        ("thumbnail.jpg", image_thumbnail, "catalogue_image_thumbnail"),
    ]
    return [
        path(f"<int:object_id>/{suffix}", wrap(partial(view, model_admin=model_admin)), name=name)
        for suffix, view, name in views
    ]


@admin.display(description="Thumbnail")
def thumbnail_preview(model_admin, image: Image) -> str:
    if not image.pk or not image.thumbnail:
        return "—"
    return format_html(
        '<img src="{}" alt="" style="max-width:96px;max-height:96px" loading="lazy">',
        reverse("admin:catalogue_image_thumbnail", args=[image.pk]),
    )


@admin.display(description="Regions")
def regions_link(model_admin, image: Image) -> str:
    marks = []
    if image.target_mask_png:
        marks.append("target")
    if image.ground_truth_mask_png:
        marks.append("mask")
    if image.ground_truth_boxes:
        marks.append(f"{len(image.ground_truth_boxes)} box(es)")
    return format_html(
        '<a href="{}">{}</a>',
        reverse("admin:catalogue_image_regions", args=[image.pk]),
        ", ".join(marks) or "set…",
    )


def _flag_action(field: str, value: bool, description: str):
    @admin.action(description=description)
    def action(model_admin, request, queryset):
        count = queryset.update(**{field: value})
        model_admin.message_user(request, f"{count} image(s) updated.")

    action.__name__ = f"{'mark' if value else 'unmark'}_{field.removeprefix('is_')}"
    return action


FLAG_ACTIONS = [
    _flag_action("is_practice", True, "Mark as practice images"),
    _flag_action("is_practice", False, "Unmark practice"),
    _flag_action("is_attention_check", True, "Mark as attention checks"),
    _flag_action("is_attention_check", False, "Unmark attention checks"),
]

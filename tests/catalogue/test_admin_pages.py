"""The admin fixes of issue 14 (point 7), server side: adding an image set with its images, the
image counts of the set list, unambiguous "Variant of" choices, refused forms answering 400,
rounded runtimes and readable compute-unit labels. The layout is checked in a real browser in
tests/browser/test_admin_layout.py."""

import re
from datetime import timedelta

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from catalogue.models import Image, ImageSet
from catalogue.services import image_create
from explain.models import ComputeUnit, SaliencyMap
from study.services import study_maps_compute
from tests.conftest import gradient_image, media_files


@pytest.fixture
def admin(client, db):
    client.force_login(get_user_model().objects.create_superuser("boss", password="boss-pass-123"))
    return client


def _png(name: str, seed: int) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, gradient_image(seed=seed), content_type="image/png")


def test_adding_an_image_set_takes_its_first_images(admin, media):
    page = admin.get("/admin/catalogue/imageset/add/").content.decode()
    assert 'type="file" name="files"' in page and 'enctype="multipart/form-data"' in page
    response = admin.post(
        "/admin/catalogue/imageset/add/",
        {"name": "fresh", "description": "two at once", "files": [_png("a.png", 1), _png("b.png", 2)]},
    )
    image_set = ImageSet.objects.get(name="fresh")
    assert response.status_code == 302 and response["Location"].endswith(f"/imageset/{image_set.pk}/change/")
    assert sorted(image_set.images.values_list("name", flat=True)) == ["a", "b"]
    assert image_set.description == "two at once"


def test_adding_an_image_set_without_images_is_fine(admin):
    response = admin.post("/admin/catalogue/imageset/add/", {"name": "empty for now"})
    assert response.status_code == 302 and ImageSet.objects.get(name="empty for now").images.count() == 0


def test_a_refused_image_creates_no_set_and_answers_400(admin, media):
    files_before = media_files(media)
    response = admin.post(
        "/admin/catalogue/imageset/add/",
        {"name": "half", "files": [_png("ok.png", 3), SimpleUploadedFile("bad.png", b"nope")]},
    )
    assert response.status_code == 400
    assert "bad.png: not an image file" in response.content.decode()
    assert not ImageSet.objects.filter(name="half").exists() and media_files(media) == files_before
    # a taken name is refused too
    ImageSet.objects.create(name="taken")
    assert admin.post("/admin/catalogue/imageset/add/", {"name": "taken"}).status_code == 400


def test_the_image_set_list_counts_images_and_variants(admin, image_set):
    original = image_set.images.order_by("pk").first()
    Image.objects.filter(pk=image_set.images.order_by("pk").last().pk).update(variant_of=original)
    ImageSet.objects.create(name="empty")
    page = admin.get("/admin/catalogue/imageset/").content.decode()
    counts = dict(
        re.findall(
            r'<th class="field-name"><a [^>]*>([^<]+)</a></th><td class="field-image_count">(\d+)', page
        )
    )
    assert counts == {"test set": "4", "empty": "0"}
    assert '<td class="field-variant_count">1</td>' in page


def test_variant_of_choices_name_the_set_and_id(admin, image_set):
    other = ImageSet.objects.create(name="other set")
    twin = image_create(image_set=other, name="img0", content=gradient_image(seed=0), filename="img0.png")
    first = image_set.images.get(name="img0")
    page = admin.get(f"/admin/catalogue/image/{first.pk}/change/").content.decode()
    select = page.split('name="variant_of"')[1].split("</select>")[0]
    assert f">img0 (160x120) in test set, #{first.pk}</option>" in select
    assert f">img0 (160x120) in other set, #{twin.pk}</option>" in select


def test_a_refused_ground_truth_or_variant_choice_answers_400(admin, image_set):
    image = image_set.images.first()
    response = admin.post(f"/admin/catalogue/image/{image.pk}/regions/", {"boxes": "1 2 3"})
    assert response.status_code == 400 and 'class="errorlist' in response.content.decode()
    response = admin.post(
        "/admin/catalogue/imageset/",
        {"action": "generate_variants", "_selected_action": [image_set.pk], "apply": "1", "seed": "-1"},
    )
    assert response.status_code == 400 and 'id="variants-form"' in response.content.decode()


def test_runtimes_are_rounded_and_units_have_names(admin, study, django_capture_on_commit_callbacks):
    image = study.image_set.images.first()
    saliency_map = SaliencyMap.objects.create(
        image=image,
        model=study.model_specs.get(),
        method="xrai",
        target_class=1,
        params={},
        params_hash="x",
        map_npy=SaliencyMap.encode(np.zeros((2, 2), np.float32)),
        runtime_s=1.9828037719998974,
        device="cpu",
        versions={},
        weights_sha256="",
    )
    listing = admin.get("/admin/explain/saliencymap/").content.decode()
    assert '<td class="field-runtime">1.98 s</td>' in listing and "1.9828" not in listing
    assert "1.98 s" in admin.get(f"/admin/explain/saliencymap/{saliency_map.pk}/change/").content.decode()

    with django_capture_on_commit_callbacks(execute=False):
        job = study_maps_compute(study=study)
    unit = job.units.order_by("pk").first()
    start = timezone.now()
    ComputeUnit.objects.filter(pk=unit.pk).update(
        status="done", started_at=start, finished_at=start + timedelta(seconds=2.25678)
    )
    unit.refresh_from_db()
    assert str(unit) == f"unit {unit.pk} of job {job.pk}: image {unit.image_id} x model {unit.model_id}"
    page = admin.get(f"/admin/explain/computejob/{job.pk}/change/").content.decode()
    assert "ComputeUnit object" not in page and str(unit) in page
    duration = page.split('<td class="field-duration">')[1].split("</td>")[0]
    assert re.sub(r"\s+", "", duration) == "<p>2.26s</p>"


def test_empty_mean_and_std_are_accepted_by_the_model_form_and_a_bad_sample_is_a_400(admin, default_model):
    from explain.model_admin import ModelSpecForm

    form = ModelSpecForm()
    assert not form.fields["mean"].required and not form.fields["std"].required  # empty: the defaults
    response = admin.post(
        f"/admin/explain/modelspec/{default_model.pk}/test-load/", {"sample": "no-such-image"}
    )
    assert response.status_code == 400

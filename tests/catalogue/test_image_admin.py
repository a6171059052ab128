"""The image admin through Django's test client: bulk upload, thumbnails, flags, the target
region painted on the participants' canvas, ground truth."""

import io
import zipfile

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from analysis.codec import mask_from_png
from catalogue.models import Image, ImageSet
from tests.conftest import gradient_image, media_files, png_bytes


def a_zip(entries: dict[str, bytes]) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return SimpleUploadedFile("set.zip", buffer.getvalue(), content_type="application/zip")


def a_csv(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("labels.csv", text.encode(), content_type="text/csv")


def test_a_zip_and_loose_files_uploaded_in_the_admin_become_labelled_images_with_thumbnails(
    admin_client, media
):
    image_set = ImageSet.objects.create(name="uploaded")
    change_page = admin_client.get(f"/admin/catalogue/imageset/{image_set.pk}/change/").content.decode()
    assert 'id="image-upload-form"' in change_page and "multiple" in change_page
    response = admin_client.post(
        f"/admin/catalogue/imageset/{image_set.pk}/upload/",
        {
            "files": [
                a_zip({"pets/cat.png": gradient_image(seed=1), "pets/dog.png": gradient_image(seed=2)}),
                SimpleUploadedFile("cue.png", gradient_image(seed=3), content_type="image/png"),
                SimpleUploadedFile("cat_again.png", gradient_image(seed=1), content_type="image/png"),
            ],
            "labels": a_csv(
                "file,label,practice,texture_label\ncat,285,1,\ndog,Golden Retriever,,\n"
                "cue.png,tabby,,indian elephant\ncat_again,285,,\n"
            ),
        },
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert "3 image(s) added to 'uploaded', 1 duplicate(s) skipped" in messages
    assert "Skipped duplicate cat_again.png: same content as set.zip:pets/cat.png" in messages
    images = {image.name: image for image in image_set.images.all()}
    assert sorted(images) == ["cat", "cue", "dog"]
    assert (images["cat"].class_index, images["cat"].is_practice) == (285, True)
    assert (images["dog"].class_index, images["dog"].class_name) == (207, "golden retriever")
    assert (images["cue"].texture_class_index, images["cue"].texture_class_name) == (385, "Indian elephant")
    for image in images.values():
        with PILImage.open(image.thumbnail.open("rb")) as thumbnail:
            assert (thumbnail.format, thumbnail.size) == ("JPEG", (160, 120))
    # the thumbnails show in the set's inline and the image list, served to staff only
    thumbnail_url = f"/admin/catalogue/image/{images['cat'].pk}/thumbnail.jpg"
    assert (
        thumbnail_url
        in admin_client.get(f"/admin/catalogue/imageset/{image_set.pk}/change/").content.decode()
    )
    assert thumbnail_url in admin_client.get("/admin/catalogue/image/").content.decode()
    served = admin_client.get(thumbnail_url)
    assert served["Content-Type"] == "image/jpeg"
    assert b"".join(served.streaming_content) == images["cat"].thumbnail.open("rb").read()


def test_an_upload_with_a_bad_label_shows_the_error_and_saves_nothing(admin_client, media, image_set):
    rows_before, files_before = Image.objects.count(), media_files(media)
    response = admin_client.post(
        f"/admin/catalogue/imageset/{image_set.pk}/upload/",
        {
            "files": [a_zip({"a.png": gradient_image(seed=11), "b.png": gradient_image(seed=12)})],
            "labels": a_csv("file,label\na,285\nb,Egyptian kat\n"),
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was added: 1 problem." in page
    assert "set.zip:b.png (labels.csv line 3): label &#x27;Egyptian kat&#x27; is not a class name" in page
    assert Image.objects.count() == rows_before and media_files(media) == files_before


def test_a_zip_slip_entry_uploaded_in_the_admin_is_refused(admin_client, media, image_set):
    files_before = media_files(media)
    response = admin_client.post(
        f"/admin/catalogue/imageset/{image_set.pk}/upload/",
        {"files": [a_zip({"../../etc/cron.png": gradient_image(seed=13)})]},
    )
    assert "set.zip:../../etc/cron.png: refused, the entry points outside the archive" in (
        response.content.decode()
    )
    assert Image.objects.count() == 4 and media_files(media) == files_before


def test_flags_are_edited_in_the_list_and_by_bulk_actions(admin_client, image_set):
    img0, img1 = Image.objects.get(name="img0"), Image.objects.get(name="img1")
    response = admin_client.post(
        "/admin/catalogue/image/",
        {"action": "mark_attention_check", "_selected_action": [img0.pk, img1.pk]},
        follow=True,
    )
    assert "2 image(s) updated." in response.content.decode()
    assert set(Image.objects.filter(is_attention_check=True).values_list("name", flat=True)) == {
        "img0",
        "img1",
    }
    # list_editable: the change list's formset
    images = list(Image.objects.order_by("image_set", "name"))
    form = {
        "form-TOTAL_FORMS": str(len(images)),
        "form-INITIAL_FORMS": str(len(images)),
        "_save": "Save",
    }
    for index, image in enumerate(images):
        form[f"form-{index}-id"] = str(image.pk)
        if image.name == "img2":
            form[f"form-{index}-is_practice"] = "on"
    assert admin_client.post("/admin/catalogue/image/", form).status_code == 302
    assert list(Image.objects.filter(is_practice=True).values_list("name", flat=True)) == ["img2"]
    # the checkboxes not sent are unchecked: img0 and img1 are no longer attention checks
    assert not Image.objects.filter(is_attention_check=True).exists()


def test_the_target_region_painted_in_the_admin_is_stored_binarised(admin_client, image_set):
    image = Image.objects.get(name="img0")  # 160 x 120
    page = admin_client.get(f"/admin/catalogue/image/{image.pk}/regions/").content.decode()
    assert "annotations/js/regions.js" in page and 'id="painter-canvas"' in page
    assert f'"submitUrl": "/admin/catalogue/image/{image.pk}/regions/target"' in page
    # the painter's 16-bit map: 0.5 and above is inside, just below 0.5 is not
    values = np.zeros((120, 160), np.uint16)
    values[10:30, 20:60] = 32768  # 0.500008
    values[50:70, 20:60] = 32767  # 0.499992: outside
    values[80:90, 100:150] = 65535
    response = admin_client.post(
        f"/admin/catalogue/image/{image.pk}/regions/target",
        {"map": SimpleUploadedFile("map.png", png_bytes(values), content_type="image/png")},
    )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "next_url": f"/admin/catalogue/image/{image.pk}/regions/",
        "pixels": 20 * 40 + 10 * 50,
    }
    image.refresh_from_db()
    expected = np.zeros((120, 160), bool)
    expected[10:30, 20:60] = True
    expected[80:90, 100:150] = True
    assert np.array_equal(mask_from_png(image.target_mask_png), expected)
    # a map of the wrong size, or with nothing at 0.5, changes nothing
    for bad, error in (
        (np.zeros((10, 10), np.uint16), "the map is 10x10 but the image is 160x120"),
        (np.full((120, 160), 30000, np.uint16), "no pixel reaches 50 % intensity"),
    ):
        response = admin_client.post(
            f"/admin/catalogue/image/{image.pk}/regions/target",
            {"map": SimpleUploadedFile("map.png", png_bytes(bad), content_type="image/png")},
        )
        assert response.status_code == 400 and error in response.json()["error"]
    image.refresh_from_db()
    assert np.array_equal(mask_from_png(image.target_mask_png), expected)


def test_ground_truth_mask_and_boxes_are_checked_against_the_image(admin_client, image_set):
    image = Image.objects.get(name="img1")  # 160 x 120
    url = f"/admin/catalogue/image/{image.pk}/regions/"
    wrong_size = png_bytes(np.full((100, 100), 255, np.uint8))
    response = admin_client.post(url, {"mask": SimpleUploadedFile("m.png", wrong_size), "boxes": ""})
    assert "the mask is 100x100 but the image is 160x120" in response.content.decode()
    response = admin_client.post(url, {"boxes": "0 0 161 10"})
    assert "box &#x27;0 0 161 10&#x27; is not inside the 160x120 image" in response.content.decode()
    image.refresh_from_db()
    assert image.ground_truth_mask_png is None and image.ground_truth_boxes == []
    mask = np.zeros((120, 160), np.uint8)
    mask[30:90, 40:120] = 255
    response = admin_client.post(
        url, {"mask": SimpleUploadedFile("m.png", png_bytes(mask)), "boxes": "40 30 120 90\n0 0 10 10"}
    )
    assert response.status_code == 302
    image.refresh_from_db()
    assert np.array_equal(mask_from_png(image.ground_truth_mask_png), mask > 0)
    assert image.ground_truth_boxes == [[40, 30, 120, 90], [0, 0, 10, 10]]

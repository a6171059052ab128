"""The media disk full: MEDIA_ROOT on a 512 KiB tmpfs, filled to the last page.

Participants are not affected (their maps are stored in the database; the trial images are
only read). Adding images fails with the words "the media disk is full", saves no row and
leaves no partly written file. /healthz answers 503 naming the problem."""

import errno
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from annotations.models import Annotation
from catalogue.image_import import ImageImportError, import_images
from catalogue.models import Image, ImageSet
from catalogue.services import image_create
from study.models import Study
from study.services import participant_start
from tests.conftest import gradient_image, gradient_image_set, png_bytes
from tests.faults.conftest import require_tool

FULL = "the media disk is full (no space left on device)"


def _files(root: Path) -> dict[str, int]:
    return {str(path.relative_to(root)): path.stat().st_size for path in root.rglob("*") if path.is_file()}


@pytest.fixture
def small_media(tmp_path, settings):
    """MEDIA_ROOT on its own 512 KiB tmpfs (room for the images, their thumbnails and display
    renditions), unmounted afterwards whatever happens."""
    if os.geteuid() != 0:
        pytest.fail("mounting a tmpfs for the full-disk test needs root")
    mount, umount = require_tool("mount"), require_tool("umount")
    media = tmp_path / "media"
    media.mkdir()
    subprocess.run([mount, "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(media)], check=True)
    try:
        settings.MEDIA_ROOT = media
        yield media
    finally:
        if subprocess.run([umount, str(media)]).returncode != 0:
            subprocess.run([umount, "--lazy", str(media)], check=True)  # a file still open: detach


def _fill(media: Path) -> Path:
    filler = media / "filler.bin"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as error:
            assert error.errno == errno.ENOSPC
    return filler


@pytest.fixture
def study_on_full_disk(db, small_media):
    image_set = gradient_image_set("stored before the disk filled", 2)
    study = Study.objects.create(
        slug="full-disk", title="Full disk", image_set=image_set, trials_per_participant=2
    )
    _fill(small_media)
    return study


def test_participants_still_submit_when_the_media_disk_is_full(client, study_on_full_disk, small_media):
    participant = participant_start(study=study_on_full_disk, recruiter_ids={})
    before = _files(small_media)
    for trial in participant.trials.order_by("position"):
        with trial.image.file.open("rb") as stored:  # what the trial's image view serves
            assert stored.read(8) == b"\x89PNG\r\n\x1a\n"  # reading still works
        painted = np.zeros((trial.image.height, trial.image.width), dtype=np.uint8)
        painted[20:80, 30:100] = 200
        answer = client.post(
            reverse("trial_submit", args=[participant.code, trial.pk]),
            {"map": _upload(png_bytes(painted)), "strokes": "[]", "idempotency_key": f"key-{trial.pk}"},
        )
        assert answer.status_code == 200, answer.content
    assert Annotation.objects.filter(trial__participant=participant).count() == 2
    assert _files(small_media) == before


def test_an_import_on_a_full_disk_says_so_and_saves_nothing(study_on_full_disk, small_media, tmp_path):
    folder = tmp_path / "new images"
    folder.mkdir()
    for index in range(2):
        (folder / f"new{index}.png").write_bytes(gradient_image(width=200, height=150, seed=50 + index))
    before, rows = _files(small_media), Image.objects.count()

    with pytest.raises(ImageImportError) as raised:
        import_images(image_set_name="new set", sources=folder)
    assert raised.value.errors == [f"{FULL}: could not write the image files; nothing was saved"]
    with pytest.raises(CommandError, match=r"the media disk is full \(no space left on device\)"):
        call_command("import_images", str(folder), "--set", "new set")
    with pytest.raises(OSError, match=r"the media disk is full .*: could not write single\.png"):
        image_create(
            image_set=study_on_full_disk.image_set,
            name="single",
            content=gradient_image(seed=99),
            filename="single.png",
        )

    assert Image.objects.count() == rows and not ImageSet.objects.filter(name="new set").exists()
    assert _files(small_media) == before  # no empty or partly written image or thumbnail

    (small_media / "filler.bin").unlink()  # space again: the same import now succeeds
    result = import_images(image_set_name="new set", sources=folder)
    assert sorted(result.added) == ["new0", "new1"]
    assert all(
        Path(image.file.path).stat().st_size > 0 for image in Image.objects.filter(image_set__name="new set")
    )


def test_healthz_reports_the_full_media_disk(db, client, small_media):
    _fill(small_media)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert json.loads(response.content)["problems"] == ["media: No space left on device"]
    assert sorted(path.name for path in small_media.iterdir()) == ["filler.bin"]  # no probe file left

    (small_media / "filler.bin").unlink()
    assert client.get("/healthz").status_code == 200


def _upload(content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("map.png", content, content_type="image/png")

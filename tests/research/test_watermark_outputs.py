"""The biased-model study's shortcut report: map mass on the watermark vs a control box,
checked on maps with hand-computable shares."""

import csv
import io

import numpy as np
import pytest
from django.contrib.auth import get_user_model

from catalogue.models import ImageSet
from catalogue.services import image_create
from explain.models import Prediction, SaliencyMap
from explain.saliency.registry import method_params, params_hash
from research.shortcut_selectors import watermark_rows, watermark_summary
from study.models import Study
from tests.conftest import gradient_image

WIDTH, HEIGHT = 160, 120
BOX = [0, 0, 40, 30]  # top-left corner; its control box is the bottom-right corner


def _stored_map(image, model, values, target):
    params = method_params("integrated_gradients")
    return SaliencyMap.objects.create(
        image=image,
        model=model,
        method="integrated_gradients",
        target_class=target,
        params=params,
        params_hash=params_hash(params),
        map_npy=SaliencyMap.encode(values.astype(np.float32)),
        runtime_s=1.0,
        device="cpu",
        versions={},
        weights_sha256="0" * 64,
    )


@pytest.fixture
def watermark_study(default_model):
    image_set = ImageSet.objects.create(name="marks")
    study = Study.objects.create(
        slug="marks",
        title="Marks",
        image_set=image_set,
        methods=["integrated_gradients"],
        template=Study.Template.BIASED_MODEL,
    )
    study.model_specs.add(default_model)
    for index, on_mark in enumerate([0.6, 0.2]):
        image = image_create(
            image_set=image_set,
            name=f"m{index}",
            content=gradient_image(WIDTH, HEIGHT, seed=index),
            filename=f"m{index}.png",
            class_index=1,
            class_name="one",
        )
        image.watermark_box = BOX
        image.save()
        # A map at the image's own size: `on_mark` of the mass spread on the box, 0.1 on the
        # control box, the rest on one pixel in the middle.
        values = np.zeros((HEIGHT, WIDTH))
        values[0:30, 0:40] = on_mark / (40 * 30)
        values[90:120, 120:160] = 0.1 / (40 * 30)
        values[60, 80] = 1 - on_mark - 0.1
        values[5, 100] = -3.0  # negative evidence counts as none
        _stored_map(image, default_model, values, target=1)
        Prediction.objects.create(
            image=image,
            model=default_model,
            top5=[{"index": 0, "name": "zero", "probability": 0.9}],
            weights_sha256="0" * 64,
        )
    image_create(
        image_set=image_set, name="plain", content=gradient_image(WIDTH, HEIGHT, seed=7), filename="p.png"
    )
    return study


def test_rows_give_the_hand_computed_shares(watermark_study):
    rows = sorted(watermark_rows(study=watermark_study), key=lambda row: row["image"])
    assert [row["image"] for row in rows] == ["m0", "m1"]  # the plain image carries no watermark
    assert [row["on_watermark"] for row in rows] == pytest.approx([0.6, 0.2])
    assert [row["on_control"] for row in rows] == pytest.approx([0.1, 0.1])
    assert {row["target"] for row in rows} == {"label"} and {row["predicted_class"] for row in rows} == {0}
    (summary,) = watermark_summary(rows)
    assert summary["maps"] == 2
    assert summary["on_watermark"] == pytest.approx(0.4)
    assert summary["on_control"] == pytest.approx(0.1)
    assert summary["watermark_wins"] == 1.0
    assert summary["ci_low"] == pytest.approx(0.2) and summary["ci_high"] == pytest.approx(0.6)


def test_results_page_and_csv_report_the_shortcut(client, watermark_study):
    client.force_login(get_user_model().objects.create_user("r", password="pw-123456789", is_staff=True))
    page = client.get("/research/marks/").content.decode()
    assert 'id="watermark-table"' in page and "0.400" in page
    response = client.get("/research/marks/watermark.csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [float(row["on_watermark"]) for row in sorted(rows, key=lambda r: r["image"])] == pytest.approx(
        [0.6, 0.2]
    )
    client.logout()
    assert client.get("/research/marks/watermark.csv").status_code == 302  # staff only


def test_studies_without_watermarks_have_no_section(client, study, researcher):
    client.force_login(researcher)
    assert 'id="watermark-table"' not in client.get(f"/research/{study.slug}/").content.decode()

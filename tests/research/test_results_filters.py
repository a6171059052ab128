"""The results page's filters, per-image CSV, ceiling scatter and region pictures, checked
against the hand-made annotations of tests/research/conftest.py."""

import csv
import io
import json
import re

import numpy as np
import pytest
from PIL import Image as PILImage
from scipy import stats

from analysis.human_maps import resize_map
from annotations.models import Annotation
from research.inputs import ANALYSIS_PARAMS
from study.models import Participant
from tests.research.conftest import HEIGHT, WIDTH, a_map, hand_mean, model_map, png16

MODEL = "efficientnet-lite0"
IMAGE_COLUMNS = (
    "study,image,image_sha256,class_name,n_annotations,human_coverage,ceiling_split_half,"
    "ceiling_spearman_brown,model,method,target_class,spearman,spearman_normalised,method_params,"
    "weights_sha256,analysis_params,code_version"
).split(",")


def _csv(content: bytes) -> tuple[list[str], list[dict]]:
    reader = csv.DictReader(io.StringIO(content.decode()))
    return reader.fieldnames, list(reader)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    return float(stats.spearmanr(x.ravel(), y.ravel()).statistic)


def _flag(painted_study, name: str) -> None:
    Participant.objects.filter(code=painted_study.codes[name]).update(flagged=True)


def _annotation(painted_study, name: str, image: str):
    return Annotation.objects.filter(
        trial__participant__code=painted_study.codes[name], trial__image__name=image
    )


@pytest.fixture
def staff_client(client, researcher):
    client.force_login(researcher)
    return client


def test_leaving_out_flagged_participants_drops_their_maps(staff_client, painted_study):
    _flag(painted_study, "B")
    _, everyone = _csv(staff_client.get("/research/test-study/agreement.csv").content)
    _, unflagged = _csv(staff_client.get("/research/test-study/agreement.csv?exclude_flagged=1").content)
    assert {row["n_participants"] for row in everyone} == {"2"}
    assert {row["n_participants"] for row in unflagged} == {"1"}  # A alone
    # against A's map alone, not the mean of A and B
    (spearman,) = [
        float(row["value"])
        for row in unflagged
        if (row["image"], row["method"], row["metric"]) == ("img0", "xrai", "spearman")
    ]
    expected = _spearman(
        resize_map(model_map(1), (HEIGHT, WIDTH)), hand_mean(painted_study.submitted[("A", "img0")])
    )
    assert spearman == pytest.approx(expected, rel=1e-5)
    # the filters used are recorded beside the analysis parameters
    assert json.loads(unflagged[0]["analysis_params"]) == {
        **ANALYSIS_PARAMS,
        "filters": {"exclude_flagged": True, "min_annotations": 0, "include_flagged_maps": False},
    }
    assert json.loads(everyone[0]["analysis_params"])["filters"] == {
        "exclude_flagged": False,
        "min_annotations": 0,
        "include_flagged_maps": False,
    }
    # "0" means unchecked, not "some text, so yes"
    _, zero = _csv(staff_client.get("/research/test-study/agreement.csv?exclude_flagged=0").content)
    assert {row["n_participants"] for row in zero} == {"2"}


def test_a_minimum_of_annotations_drops_images_with_fewer(staff_client, painted_study):
    _annotation(painted_study, "B", "img1").delete()  # img1 keeps A's map only
    _, rows = _csv(staff_client.get("/research/test-study/agreement.csv").content)
    assert {row["image"] for row in rows} == {"img0", "img1"}
    _, rows = _csv(staff_client.get("/research/test-study/agreement.csv?min_annotations=2").content)
    assert {row["image"] for row in rows} == {"img0"}
    assert json.loads(rows[0]["analysis_params"])["filters"]["min_annotations"] == 2

    page = staff_client.get("/research/test-study/?min_annotations=2").content.decode()
    assert 'alt="img0"' in page and 'alt="img2"' in page
    assert 'alt="img1"' not in page and 'alt="img3"' not in page  # img3: practice, never analysed
    assert 'name="min_annotations" value="2"' in page


def test_the_page_passes_its_filters_to_the_exports_and_pictures(staff_client, painted_study):
    page = staff_client.get("/research/test-study/?exclude_flagged=1&min_annotations=2").content.decode()
    query = "?exclude_flagged=1&amp;min_annotations=2"
    for url in ("agreement.csv", "images.csv", "export.zip"):
        assert f'href="/research/test-study/{url}{query}"' in page
    assert 'href="/research/test-study/participants.csv"' in page  # every trial, unfiltered
    assert re.search(rf'src="/research/test-study/images/\d+/human\.png{re.escape(query)}"', page)
    assert re.search(rf'src="/research/test-study/images/\d+/human-top10\.png{re.escape(query)}"', page)
    assert re.search(r'<input type="checkbox" name="exclude_flagged"[^>]*\bchecked', page)


def test_a_malformed_filter_is_refused_by_the_page_and_the_exports(staff_client, painted_study):
    # tests/research/test_filter_validation.py checks every parameter on every surface
    response = staff_client.get("/research/test-study/?min_annotations=-1")
    assert response.status_code == 400
    page = response.content.decode()
    assert 'class="errorlist' in page and 'id="summary"' not in page  # why, and no unasked-for numbers
    assert staff_client.get("/research/test-study/agreement.csv?min_annotations=many").status_code == 400
    assert staff_client.get("/research/test-study/images.csv?min_annotations=-1").status_code == 400


def test_the_ceiling_scatter_is_drawn_when_an_image_has_a_ceiling(staff_client, painted_study):
    page = staff_client.get("/research/test-study/").content.decode()
    # A and B painted img0 and img1, which have model maps: two points per model x method
    assert 'id="ceiling-scatter"' in page
    assert f"{MODEL} · xrai (n=2)" in page and f"{MODEL} · integrated_gradients (n=2)" in page
    _flag(painted_study, "B")
    page = staff_client.get("/research/test-study/?exclude_flagged=1").content.decode()
    assert 'id="ceiling-scatter"' not in page  # one participant per image: no split half


def _image_rows(response) -> dict[tuple[str, str], dict]:
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    columns, rows = _csv(response.content)
    assert columns == IMAGE_COLUMNS
    return {(row["image"], row["method"]): row for row in rows}


def test_the_images_csv_has_ceilings_and_normalised_spearman_per_image(staff_client, painted_study):
    # B's img0 map replaced by one close to A's, so that img0's ceiling is positive; img1's
    # (A's box against B's left-to-right ramp) is negative, and gives no ratio.
    b_img0 = a_map(shift=5)
    _annotation(painted_study, "B", "img0").update(map_png=png16(b_img0))
    response = staff_client.get("/research/test-study/images.csv")
    assert 'filename="test-study-images.csv"' in response["Content-Disposition"]
    rows = _image_rows(response)
    assert set(rows) == {
        ("img0", "integrated_gradients"),
        ("img0", "xrai"),
        ("img1", "integrated_gradients"),
        ("img1", "xrai"),
        ("img2", ""),  # no model maps: one row, for its ceiling
    }
    a_img0 = painted_study.submitted[("A", "img0")]
    human = hand_mean(a_img0, b_img0)
    # two participants: every split is A against B
    ceiling = _spearman(hand_mean(a_img0), hand_mean(b_img0))
    assert ceiling > 0
    for seed, method in enumerate(["integrated_gradients", "xrai"]):
        row = rows[("img0", method)]
        assert (row["n_annotations"], row["model"], row["target_class"]) == ("2", MODEL, "285")
        assert float(row["human_coverage"]) == pytest.approx(np.mean(human >= 0.05), rel=1e-5)
        assert float(row["ceiling_split_half"]) == pytest.approx(ceiling, rel=1e-5)
        assert float(row["ceiling_spearman_brown"]) == pytest.approx(2 * ceiling / (1 + ceiling), rel=1e-5)
        raw = _spearman(resize_map(model_map(seed), (HEIGHT, WIDTH)), human)
        assert float(row["spearman"]) == pytest.approx(raw, rel=1e-5)
        assert float(row["spearman_normalised"]) == pytest.approx(raw / ceiling, rel=1e-4)
        assert json.loads(row["method_params"]) == painted_study.model_maps[("img0", method)].params
    img1 = rows[("img1", "xrai")]
    submitted = painted_study.submitted
    assert float(img1["ceiling_split_half"]) == pytest.approx(
        _spearman(hand_mean(submitted[("A", "img1")]), hand_mean(submitted[("B", "img1")])), rel=1e-5
    )
    assert float(img1["ceiling_split_half"]) < 0 and img1["spearman"] and img1["spearman_normalised"] == ""
    img2 = rows[("img2", "")]
    assert (img2["n_annotations"], img2["model"], img2["spearman"], img2["spearman_normalised"]) == (
        "2",
        "",
        "",
        "",
    )
    assert img2["ceiling_split_half"]
    assert json.loads(img2["analysis_params"])["filters"] == {
        "exclude_flagged": False,
        "min_annotations": 0,
        "include_flagged_maps": False,
    }
    assert img2["code_version"]


def test_the_images_csv_has_no_ceiling_for_an_image_with_one_map(staff_client, painted_study):
    _flag(painted_study, "B")
    rows = _image_rows(staff_client.get("/research/test-study/images.csv?exclude_flagged=1"))
    assert {row["n_annotations"] for row in rows.values()} == {"1"}
    for row in rows.values():
        assert (row["ceiling_split_half"], row["ceiling_spearman_brown"], row["spearman_normalised"]) == (
            "",
            "",
            "",
        )
    assert rows[("img0", "xrai")]["spearman"]  # the raw value is still there
    assert json.loads(rows[("img0", "xrai")]["analysis_params"])["filters"]["exclude_flagged"] is True
    assert (
        _image_rows(staff_client.get("/research/test-study/images.csv?exclude_flagged=1&min_annotations=2"))
        == {}
    )


def _png_size(response) -> tuple[int, int]:
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    with PILImage.open(io.BytesIO(response.content)) as picture:
        return picture.size


def test_the_gallery_links_region_pictures_that_render(staff_client, painted_study):
    page = staff_client.get("/research/test-study/").content.decode()
    # two model maps each for img0 and img1, each with its top 10 % and top 30 %
    assert len(re.findall(r'src="/research/maps/\d+/top(?:10|30)\.png"', page)) == 8
    # the human mean of the 3 painted main images
    assert len(re.findall(r'src="/research/test-study/images/\d+/human-top(?:10|30)\.png"', page)) == 6
    assert 'loading="lazy" src="/research/maps/' in page
    model_map_id = painted_study.model_maps[("img0", "xrai")].pk
    image_id = painted_study.model_maps[("img0", "xrai")].image_id
    assert _png_size(staff_client.get(f"/research/maps/{model_map_id}/top10.png")) == (128, 96)
    assert _png_size(staff_client.get(f"/research/test-study/images/{image_id}/human-top30.png")) == (128, 96)
    assert _png_size(
        staff_client.get(f"/research/test-study/images/{image_id}/human-top30.png?exclude_flagged=1")
    )
    assert staff_client.get(f"/research/maps/{model_map_id}/top0.png").status_code == 404
    assert staff_client.get(f"/research/maps/{model_map_id}/top101.png").status_code == 404


def test_region_pictures_and_the_images_csv_need_a_staff_login(client, painted_study):
    model_map_id = painted_study.model_maps[("img0", "xrai")].pk
    image_id = painted_study.model_maps[("img0", "xrai")].image_id
    for path in (
        f"/research/maps/{model_map_id}/top10.png",
        f"/research/test-study/images/{image_id}/human-top10.png",
        "/research/test-study/images.csv",
    ):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login/" in response.url


def test_the_export_commands_take_the_same_filters_as_the_page(tmp_path, staff_client, painted_study):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    _annotation(painted_study, "B", "img1").delete()  # img1 keeps A's map only
    for command, page in (("export_images", "images.csv"), ("export_agreement", "agreement.csv")):
        target = tmp_path / f"{command}.csv"
        call_command(command, study="test-study", output=str(target), min_annotations=2, stderr=io.StringIO())
        from_page = staff_client.get(f"/research/test-study/{page}?min_annotations=2").content.decode()
        assert target.read_bytes().decode() == from_page
        _, rows = _csv(target.read_bytes())
        images = {row["image"] for row in rows}
        assert "img0" in images and "img1" not in images  # img2 has no model maps: images CSV only
    with pytest.raises(CommandError, match="--min-annotations"):
        call_command("export_images", study="test-study", min_annotations=-1, stderr=io.StringIO())

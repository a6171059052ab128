"""manage.py diagnose on the painted study (tests/research/conftest.py): stored IG and XRAI maps
for img0 and img1, two participants' maps for img0-img2, the packaged EfficientNet-Lite0."""

import csv

import pytest
from django.core.management import CommandError, call_command

from research.management.commands.diagnose import COLUMNS, HUMAN_MEAN


@pytest.fixture
def diagnosed(painted_study, tmp_path, capsys):
    images = painted_study.study.image_set.images
    images.filter(name="img0").update(ground_truth_boxes=[[30, 20, 90, 60]])
    path = tmp_path / "diagnostics.csv"
    call_command(
        "diagnose",
        "--study",
        painted_study.study.slug,
        "--methods",
        "integrated_gradients",
        "--randomisation-images",
        "1",
        "--randomisation-steps",
        "2",
        "--perturbation-step",
        str(224 * 56),  # 5 points per curve: the curves' arithmetic is tested in analysis/
        "--csv",
        str(path),
    )
    output = capsys.readouterr()
    with path.open() as handle:
        return list(csv.DictReader(handle)), output


def test_rows_per_image_and_summary_with_the_human_mean(diagnosed):
    rows, output = diagnosed
    assert list(rows[0]) == list(COLUMNS)
    image_rows = {(r["image"], r["method"]): r for r in rows if r["level"] == "image"}
    # IG maps are stored for img0 and img1; every main image has human maps.
    assert set(image_rows) == {
        ("img0", "integrated_gradients"),
        ("img1", "integrated_gradients"),
        ("img0", HUMAN_MEAN),
        ("img1", HUMAN_MEAN),
        ("img2", HUMAN_MEAN),
    }
    assert "missing map: img2 x efficientnet-lite0 x integrated_gradients (class 285)" in output.err
    summaries = {r["method"]: r for r in rows if r["level"] == "summary"}
    assert list(summaries) == ["integrated_gradients", HUMAN_MEAN]
    assert summaries["integrated_gradients"]["images"] == "2" and summaries[HUMAN_MEAN]["images"] == "3"
    assert all(r["target_class"] == "285" for r in image_rows.values())


def test_each_number_is_where_it_belongs(diagnosed):
    rows, output = diagnosed
    image_rows = {(r["image"], r["method"]): r for r in rows if r["level"] == "image"}
    for row in image_rows.values():
        # Gradient images are no ImageNet class: the model is far from PIC's 0.8 confidence.
        assert row["sic_auc"] == "" and row["sic_skipped"] == "not_confident"
        assert row["aic_skipped"] == "not_confident"
        assert 0.0 <= float(row["insertion_auc"]) <= 1.0 and 0.0 <= float(row["deletion_auc"]) <= 1.0
    # Localisation only where the catalogue has ground truth (img0's box).
    for (image, _), row in image_rows.items():
        assert (row["pixel_auc"] != "") == (image == "img0")
    assert 0.0 <= float(image_rows[("img0", HUMAN_MEAN)]["pixel_auc"]) <= 1.0
    # Randomisation on the first image only, for the model's maps only.
    randomised = image_rows[("img0", "integrated_gradients")]
    assert -1.0 <= float(randomised["spearman_random"]) <= 1.0
    layers, total = randomised["randomisation_layers"].split("/")
    assert layers == total and int(total) > 10
    assert image_rows[("img1", "integrated_gradients")]["spearman_random"] == ""
    assert image_rows[("img0", HUMAN_MEAN)]["spearman_random"] == ""
    summary = next(r for r in rows if r["level"] == "summary" and r["method"] == "integrated_gradients")
    assert summary["sic_images"] == "0" and summary["sic_skipped"] == "2"
    assert summary["randomisation_passes"] in ("True", "False")
    assert "human_mean" in output.out and "SIC" in output.out


def test_unknown_study_or_method(painted_study):
    with pytest.raises(CommandError, match="no study"):
        call_command("diagnose", "--study", "nope")
    with pytest.raises(CommandError, match="unknown methods"):
        call_command("diagnose", "--study", painted_study.study.slug, "--methods", "magic")


def test_min_pred_value_lets_pic_score_unconfident_images(painted_study, tmp_path):
    path = tmp_path / "low.csv"
    call_command(
        "diagnose",
        "--study",
        painted_study.study.slug,
        "--methods",
        "integrated_gradients",
        "--images",
        "1",
        "--randomisation-images",
        "0",
        "--no-perturbation",
        "--min-pred-value",
        "0",
        "--csv",
        str(path),
    )
    with path.open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["level"] == "image"]
    assert {r["method"] for r in rows} == {"integrated_gradients", HUMAN_MEAN}
    for row in rows:
        assert row["sic_skipped"] != "not_confident"
        assert row["insertion_auc"] == "" and row["spearman_random"] == ""
        # Scored, or skipped for what blurring did: never for the confidence any more.
        assert (row["sic_auc"] == "") == (row["sic_skipped"] != "")

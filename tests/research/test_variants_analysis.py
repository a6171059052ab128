"""Corruption variants and cue conflict through to the analysis, on real computed maps:
EfficientNet-Lite0, Integrated Gradients with 4 steps, two 160 x 120 images, one variant of
each, two participants painting through the real endpoints."""

import csv
import io

import numpy as np
import pytest
from scipy.stats import spearmanr

from analysis.human_maps import resize_map
from catalogue.models import Image, ImageSet
from catalogue.services import image_create
from catalogue.variants import image_variants_create
from explain.models import Prediction, SaliencyMap
from explain.services import image_explained_classes, image_maps_compute, prediction_get_or_create
from research import variant_selectors
from research.selectors import agreement_rows
from study.models import Study, Trial
from study.services import participant_start
from tests.conftest import gradient_image
from tests.research.conftest import _join, _submit, a_map, b_map, hand_mean


@pytest.fixture
def cue_study(default_model):
    """img0 and img1, cue-conflict labels chosen from the model's own predictions so that
    img0 is a texture decision and img1 a shape decision; a gaussian_noise-3 variant of each."""
    image_set = ImageSet.objects.create(name="cue set")
    originals = [
        image_create(
            image_set=image_set,
            name=f"img{index}",
            content=gradient_image(seed=index),
            filename=f"img{index}.png",
            class_index=285,
            class_name="Egyptian cat",
        )
        for index in range(2)
    ]
    img0, img1 = originals
    top0 = prediction_get_or_create(image=img0, spec=default_model).top5[0]
    top1 = prediction_get_or_create(image=img1, spec=default_model).top5[0]
    assert 285 not in (top0["index"], top1["index"])
    img0.texture_class_index, img0.texture_class_name = top0["index"], top0["name"]  # model: texture
    img1.class_index, img1.class_name = top1["index"], top1["name"]  # model: shape
    img1.texture_class_index, img1.texture_class_name = 285, "Egyptian cat"
    for image in originals:
        image.save()
    study = Study.objects.create(
        slug="cue-study",
        title="Cue study",
        image_set=image_set,
        trials_per_participant=4,  # more than the originals: variants would be drawn if allowed
        methods=["integrated_gradients"],
        method_params={"integrated_gradients": {"steps": 4}},
        target_policy=Study.TargetPolicy.SHAPE_AND_TEXTURE,
    )
    study.model_specs.add(default_model)
    for image in originals:
        image_variants_create(image=image, corruptions=["gaussian_noise"], severities=[3], seed=0)
    for name, participant_map in [("A", a_map), ("B", b_map)]:
        client, participant = _join(study.slug, f"PROLIFIC_PID=p{name}")
        for index, image_name in enumerate(["img0", "img1"]):
            _submit(
                client, participant, image_name, participant_map(shift=index * (10 if name == "A" else 1000))
            )
    for image in image_set.images.all():
        image_maps_compute(
            image=image,
            spec=default_model,
            method_params=study.full_method_params(),
            target_policy=study.target_policy,
        )
    return study


def test_variants_are_never_assigned_to_participants(cue_study):
    assert cue_study.image_set.images.filter(variant_of__isnull=False).count() == 2
    for _ in range(4):
        participant_start(study=cue_study, recruiter_ids={})
    trials = Trial.objects.filter(participant__study=cue_study)
    assert trials.count() == 6 * 2  # every participant: the two originals, nothing else
    assert not trials.filter(image__variant_of__isnull=False).exists()


def test_shape_and_texture_policy_explains_both_classes(cue_study, default_model):
    for image in cue_study.image_set.images.all():
        targets = set(SaliencyMap.objects.filter(image=image).values_list("target_class", flat=True))
        assert targets == {image.class_index, image.texture_class_index}, image.name
    variant = Image.objects.get(name="img0__gaussian_noise-3")
    original = variant.variant_of
    assert (variant.class_index, variant.texture_class_index) == (
        original.class_index,
        original.texture_class_index,
    )


def test_explained_classes_deduplicates_and_needs_a_texture_label():
    prediction = Prediction(top5=[{"index": 7, "name": "cock", "probability": 0.9}])
    policy = Study.TargetPolicy.SHAPE_AND_TEXTURE
    assert image_explained_classes(Image(class_index=285, texture_class_index=281), prediction, policy) == [
        285,
        281,
    ]
    assert image_explained_classes(Image(class_index=285, texture_class_index=285), prediction, policy) == [
        285
    ]
    assert image_explained_classes(Image(class_index=285), prediction, policy) == [285]
    assert image_explained_classes(Image(class_index=None), prediction, policy) == [7]


def test_a_variant_is_scored_against_its_originals_human_mean(cue_study):
    rows = agreement_rows(study=cue_study)
    variant = Image.objects.get(name="img0__gaussian_noise-3")
    shape_map = SaliencyMap.objects.get(image=variant, target_class=variant.class_index)
    row = next(r for r in rows if r["map_id"] == shape_map.pk and r["metric"] == "spearman")
    assert (row["original"], row["corruption"], row["severity"], row["target"]) == (
        "img0",
        "gaussian_noise",
        3,
        "shape",
    )
    assert row["n_participants"] == 2
    # by hand: the two painted maps of img0, min-max scaled and averaged; the variant's map
    # resized to the image; Spearman of the flattened pair
    human = hand_mean(a_map(shift=0), b_map(shift=0))
    model = resize_map(shape_map.map_array(), human.shape)
    assert row["value"] == pytest.approx(spearmanr(model.ravel(), human.ravel()).statistic, abs=1e-9)
    texture_row = next(
        r
        for r in rows
        if r["image"] == variant.name and r["metric"] == "spearman" and r["target"] == "texture"
    )
    assert texture_row["target_class"] == variant.texture_class_index
    originals = {r["image"] for r in rows if not r["original"]}
    assert originals == {"img0", "img1"}


def test_the_prediction_change_table_matches_the_stored_predictions(cue_study, default_model):
    changes = variant_selectors.prediction_changes(study=cue_study)
    assert len(changes) == 2
    for change in changes:
        variant = Image.objects.get(name=change["variant"])
        before = Prediction.objects.get(image=variant.variant_of, model=default_model).top5
        after = Prediction.objects.get(image=variant, model=default_model).top5
        assert change["original_top1"] == before[0]["name"] and change["variant_top1"] == after[0]["name"]
        assert change["flipped"] == (before[0]["index"] != after[0]["index"])
        in_top5 = [e["probability"] for e in after if e["index"] == variant.class_index]
        assert change["label_probability"] == (in_top5[0] if in_top5 else None)
    (summary,) = variant_selectors.flip_summary(changes)
    assert (summary["corruption"], summary["severity"], summary["n"]) == ("gaussian_noise", 3, 2)
    assert summary["share_flipped"] == sum(c["flipped"] for c in changes) / 2


def test_shape_bias_counts_top1_shape_and_texture_decisions(cue_study):
    (bias,) = variant_selectors.shape_bias(study=cue_study)
    # img0's top-1 is its texture class, img1's its shape class (as the fixture chose them)
    assert (bias["shape"], bias["texture"], bias["neither"], bias["shape_bias"]) == (1, 1, 0, 0.5)


def test_the_results_page_shows_corruptions_and_cue_conflict(client, researcher, cue_study):
    client.force_login(researcher)
    page = client.get(f"/research/{cue_study.slug}/").content.decode()
    assert 'id="corruptions"' in page and 'id="severity-chart"' in page and "<svg" in page
    assert 'id="prediction-changes"' in page and "gaussian_noise" in page
    for change in variant_selectors.prediction_changes(study=cue_study):
        assert change["variant_top1"] in page
    assert 'id="cue-conflict"' in page and 'id="shape-bias"' in page and "0.500" in page
    # the main agreement table covers the originals only, each image once whatever its
    # number of targets: 2 images (not 4 with the variants, nor 2 x 2 maps)
    summary = page.split('id="summary"')[1].split("</table>")[0]
    assert '<td class="num">2</td>' in summary
    assert '<td class="num">4</td>' not in summary and '<td class="num">8</td>' not in summary
    # the gallery shows what participants painted: originals, not their variants
    gallery = page.split("<h2>Images</h2>")[1]
    assert gallery.count('class="gallery-row"') == 2 and "__gaussian_noise" not in gallery


def test_the_agreement_csv_has_variant_and_target_columns(client, researcher, cue_study):
    client.force_login(researcher)
    response = client.get(f"/research/{cue_study.slug}/agreement.csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {"original", "corruption", "severity", "target"} <= set(rows[0])
    variant_rows = [r for r in rows if r["original"]]
    # 2 variants x (shape + texture map) x 10 metrics
    assert len(variant_rows) == 40 and len(rows) == 80
    assert {(r["original"], r["corruption"], r["severity"]) for r in variant_rows} == {
        ("img0", "gaussian_noise", "3"),
        ("img1", "gaussian_noise", "3"),
    }
    assert {r["target"] for r in rows} == {"shape", "texture"}
    assert all(r["corruption"] == "" and r["severity"] == "" for r in rows if not r["original"])
    assert all(np.isfinite(float(r["value"])) for r in rows)

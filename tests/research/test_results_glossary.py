"""The results page explains itself: metrics in words with the direction of "better", a
definition and a reference each, the headline metric first, what "normalised" means, and a
warning when too few images or participants stand behind the confidence intervals and tests."""

import re

import numpy as np
import pytest
from django.utils import timezone

from annotations.models import Annotation
from explain.models import SaliencyMap
from explain.saliency.registry import method_params, params_hash
from research import metric_glossary
from research.inputs import ANALYSIS_PARAMS, METRICS
from study.models import Participant, Study, Trial
from tests.conftest import gradient_image_set
from tests.research.conftest import png16


@pytest.fixture
def staff_client(client, researcher):
    client.force_login(researcher)
    return client


def _summary_metric_labels(page: str) -> list[str]:
    table = page.split('id="summary"')[1].split("</table>")[0]
    return re.findall(r'<td class="metric"><a href="#metric-[\w]+" title="[^"]*">([^<]+)</a>', table)


def test_every_reported_metric_has_words_a_direction_a_definition_and_a_reference():
    entries = metric_glossary.glossary(METRICS)
    assert {entry.code for entry in entries} == set(METRICS) == set(ANALYSIS_PARAMS["metrics"])
    for entry in entries:
        assert entry.name != entry.code and entry.definition and entry.reference
    assert [entry.code for entry in entries][0] == "spearman"
    # the two distances are the ones where lower is better, as the CSV documentation says
    lower = {entry.code for entry in entries if not entry.higher_is_better}
    assert lower == {"kld", "emd"}
    assert lower == {code for code, text in ANALYSIS_PARAMS["metrics"].items() if "lower is better" in text}
    assert metric_glossary.metric("kld").label == "KL divergence (lower is better)"
    assert metric_glossary.metric("spearman").label == "Spearman rank correlation (higher is better)"
    assert metric_glossary.metric("top30_dice").name == "Top-30 % overlap, Dice"


def test_the_warning_thresholds_are_the_stated_ones():
    assert metric_glossary.sample_size_warnings(n_images=10, participants_per_image=[10] * 10) == []
    (few_images,) = metric_glossary.sample_size_warnings(n_images=9, participants_per_image=[12] * 9)
    assert "Only 9 images" in few_images and "fewer than 10" in few_images
    # the median counts: two images of 30 do not hide seven of 3
    (few_people,) = metric_glossary.sample_size_warnings(
        n_images=12, participants_per_image=[3] * 7 + [30] * 5
    )
    assert "median of 3 analysed painted maps" in few_people
    assert len(metric_glossary.sample_size_warnings(n_images=2, participants_per_image=[2, 2])) == 2


def test_the_page_names_metrics_in_words_headline_first_with_a_glossary(staff_client, painted_study):
    page = staff_client.get("/research/test-study/").content.decode()
    labels = _summary_metric_labels(page)
    assert labels, "the summary table has rows"
    assert labels[0] == "Spearman rank correlation (higher is better)"
    assert (
        "KL divergence (lower is better)" in labels
        and "Earth mover&#x27;s distance (EMD) (lower is better)" in labels
    )
    # grouped by metric in glossary order: every Spearman row before any other metric's
    order = [entry.label for entry in metric_glossary.glossary(METRICS)]
    ranks = [order.index(label.replace("&#x27;", "'")) for label in labels]
    assert ranks == sorted(ranks)
    glossary = page.split('id="glossary"')[1].split("</details>")[0]
    for entry in metric_glossary.glossary(METRICS):
        assert f'id="metric-{entry.code}"' in glossary
    assert glossary.index("metric-spearman") < glossary.index("metric-cc") < glossary.index("metric-kld")
    assert "Bylinskii" in glossary and "Spearman (1904)" in glossary
    # hover help on the table: the definition as the link's title
    assert 'title="Pearson correlation of the two maps&#x27; pixel ranks' in page
    # what normalised means and why it can exceed 1
    note = page.split('id="normalised-note">')[1].split("</p>")[0]
    assert "÷ the noise ceiling" in note and "exceed 1" in note


def test_two_images_of_two_participants_get_the_warning(staff_client, painted_study):
    page = staff_client.get("/research/test-study/").content.decode()
    box = page.split('id="sample-warning"')[1].split("</div>")[0]
    # img0 and img1 have model maps; A and B painted each
    assert "Only 2 images" in box and "fewer than 10" in box
    assert "median of 2 analysed painted maps" in box


@pytest.fixture
def large_study(db, default_model):
    """10 images, each painted by the same 10 participants (built in the database directly:
    the page's arithmetic is not what is checked here) and explained by one model map."""
    image_set = gradient_image_set("large set", 10, class_name="Egyptian cat")
    study = Study.objects.create(
        slug="large",
        title="Large",
        image_set=image_set,
        trials_per_participant=10,
        methods=["vanilla_gradient"],
    )
    study.model_specs.add(default_model)
    rng = np.random.default_rng(0)
    images = list(image_set.images.order_by("name"))
    for index in range(10):
        participant = Participant.objects.create(
            study=study, consented_at=timezone.now(), finished_at=timezone.now(), prolific_pid=f"p{index}"
        )
        for position, image in enumerate(images):
            trial = Trial.objects.create(
                participant=participant, image=image, position=position, status=Trial.Status.DONE
            )
            values = np.zeros((image.height, image.width), np.uint16)
            top, left = rng.integers(0, 60), rng.integers(0, 80)
            values[top : top + 50, left : left + 70] = 65535
            Annotation.objects.create(
                trial=trial, map_png=png16(values), width=image.width, height=image.height, bit_depth=16
            )
    params = method_params("vanilla_gradient", None)
    for seed, image in enumerate(images):
        SaliencyMap.objects.create(
            image=image,
            model=default_model,
            method="vanilla_gradient",
            target_class=285,
            params=params,
            params_hash=params_hash(params),
            map_npy=SaliencyMap.encode(np.random.default_rng(seed).random((224, 224), dtype=np.float32)),
            runtime_s=0.1,
            device="cpu",
        )
    return study


def test_ten_images_of_ten_participants_get_no_warning(staff_client, large_study):
    page = staff_client.get("/research/large/").content.decode()
    assert 'id="summary"' in page and 'id="glossary"' in page
    assert 'id="sample-warning"' not in page

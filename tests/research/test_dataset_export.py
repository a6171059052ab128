"""The study data set ZIP: a small study built through the real services (bots paint through the
participant endpoints with the brush model, one person submits an 8-bit map, one participant
is excluded, a corrupted variant is scored against its original), exported, and rebuilt from
the ZIP alone: every human mean, every agreement number, every ceiling, the stroke logs, the
stimuli and the checksums. The rebuild reads files with numpy, Pillow, json and csv and
computes with the pure functions of ``analysis`` (per-map ``analysis.metrics`` and
``analysis.ceiling``, not the batched kernel the platform scores with)."""

import csv
import hashlib
import io
import json
import re
import zipfile
from datetime import timedelta

import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from PIL import Image as PILImage
from rest_framework.authtoken.models import Token

from analysis import ceiling, metrics
from analysis.human_maps import mean_map, resize_map
from annotations.brush import render_strokes
from annotations.models import Annotation
from catalogue.models import Image
from catalogue.variants import image_variants_create
from explain.models import Prediction, SaliencyMap
from explain.saliency.registry import method_params, params_hash
from research import dataset_export
from research.dataset_export import write_dataset_zip
from research.inputs import METRICS, human_mean
from research.scores import study_scores
from study import services
from study.models import Participant, Study, Trial
from tests.research.conftest import _join, _make_current, _upload, model_map

CSV_DIGITS = 5e-6  # the CSVs keep 6 significant digits: half a unit in the 6th


def _ranks(seed: int) -> np.ndarray:
    """XRAI-like ranked regions: 16 blocks of 56x56 px numbered 1-16 in a random order."""
    order = np.random.default_rng(seed).permutation(16).reshape(4, 4) + 1
    return np.kron(order, np.ones((56, 56), np.int32)).astype(np.int32)


def _png8(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(values).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def published_study(study, default_model) -> Study:
    """img0-img2 main, img3 practice; five bots; a person (8-bit map, strokes that replay);
    the second bot excluded by a researcher; model maps for every main image x method and for
    a Gaussian-noise variant of img0; a prediction."""
    images = study.image_set.images
    images.filter(name="img3").update(is_practice=True)
    study.trials_per_participant = 3
    study.practice_trials = 1
    study.save()
    call_command("simulate_participants", study=study.slug, n=5, seed=3, stdout=io.StringIO())
    services.participant_exclude(
        participant=Participant.objects.get(prolific_pid="bot-3-1"), reason="tested exclusion"
    )
    # A person who sends an 8-bit map of what their strokes paint (the painter may send 8-bit).
    client, person = _join(study.slug, "PROLIFIC_PID=person")
    strokes = [{"tool": "brush", "size": 30, "strength": 0.8, "points": [[40, 30, 1.0], [120, 90, 0.6]]}]
    for trial in person.trials.order_by("position"):
        _make_current(person, trial)
        client.get(f"/p/{person.code}/")  # the trial page, served 20 s before the map comes
        Trial.objects.filter(pk=trial.pk).update(shown_at=timezone.now() - timedelta(seconds=20))
        painted = np.round(render_strokes(strokes, 160, 120) * 255).astype(np.uint8)
        response = client.post(
            f"/p/{person.code}/trials/{trial.pk}/annotation",
            {
                "map": _upload(_png8(painted)),
                "strokes": json.dumps(strokes),
                "time_on_task_ms": "20000",
                "canvas_width": "480",
                "canvas_height": "360",
                "device_pixel_ratio": "1.5",
            },
        )
        assert response.status_code == 200, response.content
    (variant,) = image_variants_create(
        image=images.get(name="img0"), corruptions=["gaussian_noise"], severities=[2]
    )
    map_images = [*images.filter(name__in=["img0", "img1", "img2"]), variant]
    seed = 0
    for image in map_images:
        for method in study.methods:
            params = method_params(method, study.method_params.get(method))
            SaliencyMap.objects.create(
                image=image,
                model=default_model,
                method=method,
                target_class=285,
                params=params,
                params_hash=params_hash(params),
                map_npy=SaliencyMap.encode(model_map(seed)),
                ranks_npy=SaliencyMap.encode(_ranks(seed)) if method == "xrai" else None,
                runtime_s=1.25,
                device="cpu",
                versions={"torch": "test"},
                weights_sha256="e" * 64,
            )
            seed += 1
    Prediction.objects.create(
        image=images.get(name="img1"),
        model=default_model,
        top5=[{"index": 285, "name": "Egyptian cat", "probability": 0.6}]
        + [{"index": k, "name": f"class {k}", "probability": 0.1} for k in range(4)],
        weights_sha256="e" * 64,
    )
    return study


def _export(study: Study, **kwargs) -> zipfile.ZipFile:
    buffer = io.BytesIO()
    write_dataset_zip(study=study, out=buffer, **kwargs)
    return zipfile.ZipFile(io.BytesIO(buffer.getvalue()))


def _table(archive: zipfile.ZipFile, name: str) -> list[dict]:
    return list(csv.DictReader(io.TextIOWrapper(archive.open(name), encoding="utf-8", newline="")))


def _painted(archive: zipfile.ZipFile, path: str) -> np.ndarray:
    """A participant's map from its 16-bit PNG, as the platform reads a stored map."""
    with PILImage.open(archive.open(path)) as picture:
        assert picture.mode == "I;16"
        return np.asarray(picture).astype(np.float32) / np.float32(65535)


def _rebuilt_means(archive: zipfile.ZipFile) -> dict[str, tuple[np.ndarray, list[np.ndarray]]]:
    """Image name -> (human mean, the participant maps in it), from the ZIP alone."""
    manifest = json.loads(archive.read("manifest.json"))
    rows = {int(row["annotation_id"]): row for row in _table(archive, "participant_maps.csv")}
    rebuilt = {}
    for entry in manifest["human_maps"]:
        maps = [_painted(archive, rows[pk]["map_file"]) for pk in entry["annotation_ids"]]
        rebuilt[entry["image"]] = (mean_map(maps), maps)
    return rebuilt


def _metric(name: str, model: np.ndarray, human: np.ndarray, scoring: dict) -> float:
    """The platform's metric ``name`` from analysis.metrics, with the manifest's settings."""
    k = scoring["binarise_k"]
    if name == "auc_borji":
        return metrics.auc_borji(
            model,
            human,
            k,
            n_splits=scoring["borji_splits"],
            step=scoring["borji_step"],
            rng=scoring["seed"],
        )
    top = re.fullmatch(r"top(\d+)_(iou|dice)", name)
    if top:
        function = metrics.topk_iou if top.group(2) == "iou" else metrics.topk_dice
        return function(model, human, int(top.group(1)) / 100)
    plain = {
        "spearman": metrics.spearman,
        "cc": metrics.cc,
        "sim": metrics.sim,
        "kld": metrics.kld,
        "nss": lambda s, h: metrics.nss(s, h, k),
        "auc_judd": lambda s, h: metrics.auc_judd(s, h, k),
        "emd": lambda s, h: metrics.emd(
            s, h, grid=scoring["emd_grid"], match_histogram=scoring["emd_match_histogram"]
        ),
    }
    return plain[name](model, human)


def test_the_zip_rebuilds_every_human_mean_exactly(published_study):
    archive = _export(published_study)
    manifest = json.loads(archive.read("manifest.json"))
    rebuilt = _rebuilt_means(archive)
    assert sorted(rebuilt) == ["img0", "img1", "img2"]  # practice and variants have none
    for entry in manifest["human_maps"]:
        mean, maps = rebuilt[entry["image"]]
        # 5 bots + the person, minus the excluded bot
        assert entry["n_participants"] == len(maps) == 5
        stored = np.load(io.BytesIO(archive.read(entry["npy"])))
        assert stored.dtype == np.float32 and stored.shape == (120, 160)
        assert np.array_equal(mean.astype(np.float32), stored)
        platform, _ = human_mean(
            study=published_study,
            image=Image.objects.get(name=entry["image"], image_set=published_study.image_set),
        )
        assert np.abs(mean - platform).max() <= 1e-15
        with PILImage.open(archive.open(entry["png"])) as preview:
            # half a 16-bit step, plus the float32 rounding of the mean it is made from
            assert np.abs(np.asarray(preview) / 65535 - mean).max() <= 0.5 / 65535 + 1e-7


def test_the_zip_rebuilds_every_agreement_number(published_study):
    archive = _export(published_study)
    manifest = json.loads(archive.read("manifest.json"))
    scoring = manifest["scoring"]["settings"]
    means = {name: mean for name, (mean, _) in _rebuilt_means(archive).items()}
    files = {
        (row["image"], row["model"], row["method"], row["target_class"]): (row["file"], int(row["map_id"]))
        for row in _table(archive, "model_maps.csv")
    }
    platform = study_scores(study=published_study).scores
    rows = _table(archive, "agreement.csv")
    assert len(rows) == 4 * 2 * len(METRICS)  # img0-img2 and the variant x IG, XRAI x metrics
    assert {row["original"] for row in rows} == {"", "img0"}
    worst_csv = worst_platform = 0.0
    for row in rows:
        human = means[row["original"] or row["image"]]
        file, map_id = files[(row["image"], row["model"], row["method"], row["target_class"])]
        model = np.load(io.BytesIO(archive.read(file)))
        value = _metric(row["metric"], resize_map(model, human.shape), human, scoring)
        assert value == pytest.approx(float(row["value"]), rel=CSV_DIGITS, abs=1e-12), row
        worst_csv = max(worst_csv, abs(value - float(row["value"])) / max(abs(value), 1e-300))
        full = platform[map_id][list(METRICS).index(row["metric"])]
        assert value == pytest.approx(full, rel=1e-9, abs=1e-12), row
        worst_platform = max(worst_platform, abs(value - full))
    print(
        f"agreement from the ZIP: max relative gap to CSV {worst_csv:.1e}, to platform {worst_platform:.1e}"
    )


def test_the_zip_rebuilds_the_images_table(published_study):
    """The split-half ceiling (participants in annotation-id order, seed 0), the coverage and
    the normalised Spearman of images.csv."""
    archive = _export(published_study)
    manifest = json.loads(archive.read("manifest.json"))
    scoring = manifest["scoring"]
    rebuilt = _rebuilt_means(archive)
    rows = _table(archive, "images.csv")
    checked = 0
    for row in rows:
        if row["image"] not in rebuilt:
            assert row["ceiling_split_half"] == ""
            continue
        mean, maps = rebuilt[row["image"]]
        split_half, brown = ceiling.split_half(maps, n_splits=scoring["ceiling_splits"], rng=0)
        assert split_half == pytest.approx(float(row["ceiling_split_half"]), rel=CSV_DIGITS)
        assert brown == pytest.approx(float(row["ceiling_spearman_brown"]), rel=CSV_DIGITS)
        coverage = float(np.mean(mean >= scoring["painted_level"]))
        assert coverage == pytest.approx(float(row["human_coverage"]), rel=CSV_DIGITS)
        assert float(row["spearman"]) / split_half == pytest.approx(
            float(row["spearman_normalised"]), rel=2e-5
        )
        checked += 1
    assert checked == 6  # img0-img2 x IG, XRAI


def test_stroke_logs_replay_to_the_stored_maps(published_study):
    archive = _export(published_study)
    rows = _table(archive, "participant_maps.csv")
    assert len(rows) == Annotation.objects.filter(trial__participant__study=published_study).count() == 6 * 4
    for row in rows:
        log = json.loads(archive.read(row["strokes_file"]))
        assert log["annotation_id"] == int(row["annotation_id"]) and int(row["n_strokes"]) == len(
            log["strokes"]
        )
        painted = _painted(archive, row["map_file"])
        replayed = render_strokes(log["strokes"], int(row["width"]), int(row["height"]))
        # each map was sent as its replay quantised to 16 bits (bots) or 8 bits (the person)
        step = 65535 if row["submitted_bit_depth"] == "16" else 255
        assert np.abs(painted - replayed).max() <= 0.5 / step + 1e-6, row["map_file"]
        assert painted.max() > 0


def test_an_8_bit_map_is_stored_losslessly_in_16_bits(published_study):
    archive = _export(published_study)
    person = next(row for row in _table(archive, "participant_maps.csv") if row["submitted_bit_depth"] == "8")
    annotation = Annotation.objects.get(pk=person["annotation_id"])
    with PILImage.open(io.BytesIO(bytes(annotation.map_png))) as picture:
        submitted = np.asarray(picture)
    with PILImage.open(archive.open(person["map_file"])) as picture:
        stored = np.asarray(picture)
    assert np.array_equal(stored, submitted.astype(np.uint16) * 257)
    assert np.array_equal(stored.astype(np.float32) / np.float32(65535), annotation.map_array())
    assert person["device_pixel_ratio"] == "1.5" and person["canvas_width"] == "480"
    assert person["time_on_task_ms"] == "20000"


def test_the_csv_says_which_maps_are_analysed_and_why_not(published_study):
    archive = _export(published_study)
    manifest = json.loads(archive.read("manifest.json"))
    in_means = {pk for entry in manifest["human_maps"] for pk in entry["annotation_ids"]}
    rows = _table(archive, "participant_maps.csv")
    assert {int(row["annotation_id"]) for row in rows if row["analysed"] == "True"} == in_means
    excluded = [row for row in rows if row["participant_excluded"] == "True"]
    practice = [row for row in rows if row["trial_kind"] == "practice"]
    assert len(excluded) == 4 and len(practice) == 6
    assert all(row["analysed"] == "False" for row in excluded + practice)
    assert len(in_means) == 3 * 5


def test_every_file_is_listed_with_its_checksum_and_the_stimuli_are_the_originals(published_study):
    archive = _export(published_study)
    manifest = json.loads(archive.read("manifest.json"))
    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert set(listed) == set(archive.namelist()) - {"manifest.json"}
    for path, entry in listed.items():
        data = archive.read(path)
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["bytes"], entry["sha256"]), path
    stimuli = _table(archive, "stimuli.csv")
    assert sorted(row["image"] for row in stimuli) == [
        "img0",
        "img0__gaussian_noise-2",
        "img1",
        "img2",
        "img3",
    ]
    for row in stimuli:
        image = Image.objects.get(pk=row["image_id"])
        with image.file.open("rb") as handle:
            assert archive.read(row["file"]) == handle.read()
        assert hashlib.sha256(archive.read(row["file"])).hexdigest() == row["sha256"] == image.sha256
    roles = {row["image"]: (row["role"], row["variant_of"]) for row in stimuli}
    assert roles["img3"] == ("practice", "") and roles["img0__gaussian_noise-2"] == ("variant", "img0")
    for row in _table(archive, "model_maps.csv"):
        if row["method"] == "xrai":
            stored = SaliencyMap.objects.get(pk=row["map_id"]).ranks_array()
            assert np.array_equal(np.load(io.BytesIO(archive.read(row["ranks_file"]))), stored)
        else:
            assert row["ranks_file"] == ""
    predictions = _table(archive, "predictions.csv")
    assert [(row["image"], row["rank"], row["class_name"]) for row in predictions][0] == (
        "img1",
        "1",
        "Egyptian cat",
    )
    assert {"agreement.csv", "images.csv", "participants.csv", "README.md"} <= set(listed)


def test_the_manifest_records_the_preprocessing_actually_used(published_study):
    """The EfficientNet-Lite0 spec stores no mean/std: the manifest gives the loader's [-1, 1]
    scaling (mean 0.5, std 0.5, DESIGN.md section 4), the size and the resize rule."""
    manifest = json.loads(_export(published_study).read("manifest.json"))
    (model,) = manifest["models"]
    assert model["preprocessing"]["mean"] == [0.5, 0.5, 0.5]
    assert model["preprocessing"]["std"] == [0.5, 0.5, 0.5]
    assert model["preprocessing"]["input_size"] == [224, 224]
    assert model["preprocessing"]["interpolation"] == "bicubic"
    assert "no crop" in model["preprocessing"]["resize"]
    assert manifest["filters"] == {
        "exclude_flagged": False,
        "min_annotations": 0,
        "include_flagged_maps": False,
    }
    assert manifest["code_version"] and manifest["human_map_normalisation"]["per_participant"].startswith(
        "min-max"
    )


def test_the_filters_choose_the_maps_of_the_means(published_study):
    """min_annotations above the maps an image has: no mean, and no map marked analysed."""
    archive = _export(published_study, filters=dataset_export.AnalysisFilters(min_annotations=6))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["human_maps"] == [] and manifest["filters"]["min_annotations"] == 6
    assert all(row["analysed"] == "False" for row in _table(archive, "participant_maps.csv"))


@pytest.mark.parametrize("readme", ["data set", "project"])
def test_the_readme_loaders_run_on_the_zip(published_study, tmp_path, monkeypatch, readme):
    """The loaders printed in the data set's README and in the project README work as written."""
    if readme == "data set":
        text, name = dataset_export.DATASET_README, "STUDY-dataset.zip"
    else:
        text = (settings.BASE_DIR / "README.md").read_text().split("### Data set ZIP", 1)[1]
        name = "demo-dataset.zip"
    with open(tmp_path / name, "wb") as handle:
        write_dataset_zip(study=published_study, out=handle)
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(code, namespace)  # its own assert compares the rebuilt mean with the stored one
    assert namespace["mean"].shape == (120, 160)


def test_the_command_writes_the_same_data_set(published_study, tmp_path):
    output = tmp_path / "out.zip"
    errors = io.StringIO()
    call_command("export_dataset", study=published_study.slug, output=str(output), stderr=errors)
    names = set(zipfile.ZipFile(output).namelist())
    assert names == set(_export(published_study).namelist())
    assert "24 participant maps, 3 human means, 8 model maps" in errors.getvalue()


def test_the_results_page_links_the_data_set(client, researcher, published_study):
    client.force_login(researcher)
    page = client.get(f"/research/{published_study.slug}/?min_annotations=2").content.decode()
    assert (
        f'href="/research/{published_study.slug}/dataset.zip?min_annotations=2" id="download-dataset"' in page
    )
    response = client.get(f"/research/{published_study.slug}/dataset.zip")
    assert response["Content-Disposition"] == f'attachment; filename="{published_study.slug}-dataset.zip"'
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert "participant_maps.csv" in archive.namelist()


# ---------------------------------------------------------------------------------- JSON API


@pytest.fixture
def api(client, researcher):
    key = Token.objects.create(user=researcher).key
    return lambda path: client.get(path, HTTP_AUTHORIZATION=f"Token {key}")


def test_the_api_lists_every_participant_map_with_the_zips_files(api, published_study):
    archive = _export(published_study)
    rows = {int(row["annotation_id"]): row for row in _table(archive, "participant_maps.csv")}
    listing = api(f"/api/studies/{published_study.slug}/participant-maps/").json()
    assert sorted(entry["id"] for entry in listing) == sorted(rows)
    for entry in listing[:6]:
        row = rows[entry["id"]]
        assert entry["analysed"] == (row["analysed"] == "True")
        assert (entry["participant_code"], entry["image"], entry["trial_kind"]) == (
            row["participant_code"],
            row["image"],
            row["trial_kind"],
        )
        png = api(entry["png_url"])
        assert png["Content-Type"] == "image/png" and png.content == archive.read(row["map_file"])
        npy = np.load(io.BytesIO(api(entry["npy_url"]).content))
        assert np.array_equal(npy, Annotation.objects.get(pk=entry["id"]).map_array())
        detail = api(entry["url"]).json()
        assert detail["strokes"] == json.loads(archive.read(row["strokes_file"]))["strokes"]


def test_the_api_marks_analysed_maps_under_the_filters(api, published_study):
    slug = published_study.slug
    assert not any(
        e["analysed"] for e in api(f"/api/studies/{slug}/participant-maps/?min_annotations=6").json()
    )
    assert sum(e["analysed"] for e in api(f"/api/studies/{slug}/participant-maps/").json()) == 15
    response = api(f"/api/studies/{slug}/participant-maps/?min_annotations=x")
    assert response.status_code == 400 and "min_annotations" in response.json()


def test_the_api_serves_the_data_set_and_no_map_of_another_study(api, published_study):
    response = api(f"/api/studies/{published_study.slug}/dataset.zip")
    assert response.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert set(names) == set(_export(published_study).namelist())
    other = Study.objects.create(slug="other", title="Other", image_set=published_study.image_set)
    annotation = Annotation.objects.filter(trial__participant__study=published_study).first()
    for suffix in ("/", ".png", ".npy"):
        assert api(f"/api/studies/{other.slug}/participant-maps/{annotation.pk}{suffix}").status_code == 404


def test_the_api_gives_each_models_resolved_preprocessing(api, published_study):
    (model,) = api(f"/api/studies/{published_study.slug}/").json()["models"]
    assert model["preprocessing"]["mean"] == [0.5, 0.5, 0.5] and model["preprocessing"]["std"] == [
        0.5,
        0.5,
        0.5,
    ]


def test_the_openapi_schema_documents_the_new_endpoints(db, tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = target.read_text()
    for path in (
        "/api/studies/{slug}/dataset.zip",
        "/api/studies/{slug}/participant-maps/",
        "/api/studies/{slug}/participant-maps/{annotation_id}/",
        "/api/studies/{slug}/participant-maps/{annotation_id}.png",
        "/api/studies/{slug}/participant-maps/{annotation_id}.npy",
    ):
        assert f"  {path}:" in schema
    assert "16-bit grayscale PNG" in schema and "preprocessing" in schema

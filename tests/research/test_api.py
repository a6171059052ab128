"""The read-only JSON API: token authentication, each endpoint on the hand-made study of
tests/research/conftest.py, and the OpenAPI schema."""

import io
import zipfile

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.authtoken.models import Token

from research.inputs import ANALYSIS_PARAMS, METRICS
from tests.research.conftest import MAIN_IMAGES, hand_mean, model_map

ENDPOINTS = [
    "/api/studies/",
    "/api/studies/test-study/",
    "/api/studies/test-study/images/",
    "/api/studies/test-study/images/1/human-mean.npy",
    "/api/studies/test-study/agreement/",
    "/api/studies/test-study/image-stats/",
    "/api/studies/test-study/participants/",
    "/api/studies/test-study/maps/",
    "/api/studies/test-study/maps/1.npy",
    "/api/studies/test-study/export.zip",
]


@pytest.fixture
def token(researcher) -> str:
    return Token.objects.create(user=researcher).key


@pytest.fixture
def api(client, token):
    """GET with the researcher's token."""

    def get(path: str, **headers):
        return client.get(path, HTTP_AUTHORIZATION=f"Token {token}", **headers)

    return get


@pytest.mark.parametrize("path", ENDPOINTS)
def test_every_endpoint_answers_401_without_a_token(client, study, path):
    response = client.get(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_a_wrong_token_is_401_and_a_non_staff_token_is_403(client, study):
    assert client.get("/api/studies/", HTTP_AUTHORIZATION="Token nope").status_code == 401
    user = get_user_model().objects.create_user("participant-ish", password="x-long-password")
    key = Token.objects.create(user=user).key
    assert client.get("/api/studies/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 403


def test_the_study_list_and_detail(api, painted_study):
    response = api("/api/studies/")
    assert response.status_code == 200
    (study,) = response.json()
    assert study["slug"] == "test-study" and study["image_set"] == "test set"
    assert study["methods"] == ["integrated_gradients", "xrai"]
    assert study["method_params"]["xrai"]["steps"] == 100  # every parameter, defaults included
    assert study["models"][0]["name"] == "efficientnet-lite0"
    assert api("/api/studies/test-study/").json() == study
    assert api("/api/studies/nope/").status_code == 404


def test_images_carry_the_top5_prediction_and_the_human_mean_url(api, painted_study):
    images = {image["name"]: image for image in api("/api/studies/test-study/images/").json()}
    assert set(images) == {"img0", "img1", "img2", "img3", "check"}
    (prediction,) = images["img0"]["predictions"]
    assert prediction["model"] == "efficientnet-lite0" and len(prediction["top5"]) == 5
    assert prediction["top5"][0] == {"index": 285, "name": "Egyptian cat", "probability": 0.7}
    assert images["img0"]["n_annotations"] == 2 and images["img1"]["predictions"] == []
    assert images["img0"]["human_mean_url"].endswith(
        f"/api/studies/test-study/images/{images['img0']['id']}/human-mean.npy"
    )
    assert images["img3"]["is_practice"] and images["img3"]["human_mean_url"] is None
    assert images["check"]["is_attention_check"] and images["check"]["n_annotations"] == 0


def test_the_human_mean_map_is_the_mean_of_the_normalised_submitted_maps(api, painted_study):
    images = {image["name"]: image for image in api("/api/studies/test-study/images/").json()}
    for name in MAIN_IMAGES:
        response = api(images[name]["human_mean_url"])
        assert response.status_code == 200 and response["Content-Type"] == "application/x-npy"
        assert response["X-Participants"] == "2"
        mean = np.load(io.BytesIO(response.content), allow_pickle=False)
        expected = hand_mean(painted_study.submitted[("A", name)], painted_study.submitted[("B", name)])
        np.testing.assert_allclose(mean, expected, atol=1e-6)
    # The practice image has no analysed map: a JSON 404, whatever the client accepts.
    response = api(
        f"/api/studies/test-study/images/{images['img3']['id']}/human-mean.npy",
        HTTP_ACCEPT="application/x-npy",
    )
    assert response.status_code == 404 and response.json()["detail"] == "no analysed map of this image yet"


def test_agreement_rows_carry_provenance(api, painted_study):
    body = api("/api/studies/test-study/agreement/").json()
    assert body["study"] == "test-study" and body["code_version"]
    assert body["analysis_params"] == {
        **ANALYSIS_PARAMS,
        "filters": {"exclude_flagged": False, "min_annotations": 0, "include_flagged_maps": False},
    }
    assert body["count"] == len(body["rows"]) == 2 * 2 * len(METRICS)
    row = body["rows"][0]
    assert row["n_participants"] == 2 and row["weights_sha256"] == "f" * 64
    assert (row["original"], row["corruption"], row["severity"], row["target"]) == ("", "", None, "label")
    assert row["method_params"] == painted_study.model_maps[(row["image"], row["method"])].params
    correlations = [r for r in body["rows"] if r["metric"] in ("spearman", "cc")]
    assert correlations and all(r["value"] is None or -1 <= r["value"] <= 1 for r in correlations)


def test_participant_rows_match_what_was_submitted(api, painted_study):
    body = api("/api/studies/test-study/participants/").json()
    assert body["count"] == 15 and body["analysis_params"] == ANALYSIS_PARAMS
    (row,) = [
        r for r in body["rows"] if r["participant_code"] == painted_study.codes["A"] and r["image"] == "img0"
    ]
    assert row["time_on_task_ms"] == 6000 and row["hidden_ms"] == 2000 and row["blur_count"] == 1
    assert row["coverage"] == 0.125 and row["prolific_pid"] == "pA" and row["analysed"] is True
    (check,) = [
        r for r in body["rows"] if r["participant_code"] == painted_study.codes["C"] and r["image"] == "check"
    ]
    assert check["attention_passed"] is False and check["flagged"] is True
    assert check["excluded"] is False and check["exclusion_reason"] == ""


def test_model_maps_are_listed_and_downloaded_as_npy(api, painted_study):
    maps = api("/api/studies/test-study/maps/").json()
    assert len(maps) == 4
    by_key = {(m["image"], m["method"]): m for m in maps}
    for seed, key in enumerate(painted_study.model_maps):
        entry = by_key[key]
        assert entry["params"] == painted_study.model_maps[key].params and entry["target_class"] == 285
        response = api(entry["npy_url"])
        assert response.status_code == 200 and response["Content-Type"] == "application/x-npy"
        assert f"{key[0]}__efficientnet-lite0__{key[1]}.npy" in response["Content-Disposition"]
        np.testing.assert_array_equal(np.load(io.BytesIO(response.content)), model_map(seed))


def test_a_map_outside_the_study_is_not_found(api, painted_study, image_set):
    from study.models import Study

    Study.objects.create(slug="other", title="Other", image_set=image_set, methods=["vanilla_gradient"])
    map_id = painted_study.model_maps[("img0", "xrai")].pk
    assert api(f"/api/studies/test-study/maps/{map_id}.npy").status_code == 200
    assert api(f"/api/studies/other/maps/{map_id}.npy").status_code == 404


def test_the_study_zip_is_downloadable_through_the_api(api, painted_study):
    response = api("/api/studies/test-study/export.zip")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert "manifest.json" in names and "human/img0.npy" in names


def test_the_openapi_schema_generates_without_warnings(db, tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = target.read_text()
    for path in ("/api/studies/{slug}/agreement/", "/api/studies/{slug}/maps/{map_id}.npy", "tokenAuth"):
        assert path in schema


def test_the_schema_and_its_viewers_are_served_without_a_token(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and "/api/studies/" in response.json()["paths"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and "drf_spectacular_sidecar/swagger-ui-dist" in docs.content.decode()
    assert client.get("/api/redoc/").status_code == 200


def test_api_token_prints_a_working_token_for_staff_only(client, researcher, study):
    out = io.StringIO()
    call_command("api_token", username="researcher", stdout=out)
    key = out.getvalue().strip()
    assert client.get("/api/studies/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    again = io.StringIO()
    call_command("api_token", username="researcher", stdout=again)
    assert again.getvalue().strip() == key
    rotated = io.StringIO()
    call_command("api_token", username="researcher", rotate=True, stdout=rotated)
    assert rotated.getvalue().strip() != key
    assert client.get("/api/studies/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
    get_user_model().objects.create_user("not-staff", password="x-long-password")
    with pytest.raises(CommandError, match="not active staff"):
        call_command("api_token", username="not-staff")
    with pytest.raises(CommandError, match="no user 'ghost'"):
        call_command("api_token", username="ghost")


def test_the_results_page_filters_work_in_the_api(api, painted_study):
    from study.models import Participant

    Participant.objects.filter(code=painted_study.codes["B"]).update(flagged=True)
    body = api("/api/studies/test-study/agreement/?exclude_flagged=1").json()
    assert body["analysis_params"]["filters"] == {
        "exclude_flagged": True,
        "min_annotations": 0,
        "include_flagged_maps": False,
    }
    assert {row["n_participants"] for row in body["rows"]} == {1}  # A alone
    images = {
        image["name"]: image for image in api("/api/studies/test-study/images/?exclude_flagged=1").json()
    }
    assert images["img0"]["n_annotations"] == 1
    assert images["img0"]["human_mean_url"].endswith("?exclude_flagged=1")
    mean = np.load(io.BytesIO(api(images["img0"]["human_mean_url"]).content), allow_pickle=False)
    a_alone = hand_mean(painted_study.submitted[("A", "img0")])
    np.testing.assert_allclose(mean, a_alone, atol=1e-6)
    # Two maps per image: asking for three leaves no image.
    assert api("/api/studies/test-study/agreement/?min_annotations=3").json()["count"] == 0


@pytest.mark.parametrize("query", ["min_annotations=many", "min_annotations=-1"])
def test_a_bad_filter_is_a_400_naming_it(api, painted_study, query):
    response = api(f"/api/studies/test-study/agreement/?{query}")
    assert response.status_code == 400
    assert "min_annotations" in response.json()


def test_image_stats_give_the_ceiling_and_spearman_per_image(api, painted_study):
    from scipy.stats import spearmanr

    from analysis.human_maps import resize_map

    body = api("/api/studies/test-study/image-stats/").json()
    # img0 and img1 have maps of two methods; img2 has painted maps but no model map yet.
    assert body["count"] == len(body["rows"]) == 2 * 2 + 1
    (no_model,) = [row for row in body["rows"] if not row["model"]]
    assert no_model["image"] == "img2" and no_model["spearman"] is None and no_model["method_params"] is None
    for row in body["rows"]:
        assert row["n_annotations"] == 2
        if not row["model"]:
            continue
        human = hand_mean(
            painted_study.submitted[("A", row["image"])], painted_study.submitted[("B", row["image"])]
        )
        model = painted_study.model_maps[(row["image"], row["method"])].map_array()
        expected = spearmanr(resize_map(model, human.shape).ravel(), human.ravel()).statistic
        assert row["spearman"] == pytest.approx(expected, abs=1e-9)
        if row["ceiling_split_half"] is not None and row["ceiling_split_half"] > 0:
            assert row["spearman_normalised"] == pytest.approx(row["spearman"] / row["ceiling_split_half"])

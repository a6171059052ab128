import io

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from catalogue.models import Image
from explain.models import ComputeJob
from tests.conftest import gradient_image


@pytest.fixture
def admin_client_logged_in(client, db):
    admin = get_user_model().objects.create_superuser("boss", password="boss-pass-123")
    client.force_login(admin)
    return client


@pytest.mark.parametrize(
    "page",
    [
        "catalogue/imageset",
        "catalogue/image",
        "study/study",
        "study/participant",
        "annotations/annotation",
        "explain/modelspec",
        "explain/prediction",
        "explain/saliencymap",
        "explain/computejob",
    ],
)
def test_every_admin_list_opens(admin_client_logged_in, study, page):
    assert admin_client_logged_in.get(f"/admin/{page}/").status_code == 200


def test_the_admin_action_queues_a_compute_job(
    admin_client_logged_in, study, django_capture_on_commit_callbacks
):
    # first the estimate: 4 images x 1 model, nothing stored, no earlier map to time
    action = {"action": "compute_maps", "_selected_action": [study.pk]}
    page = admin_client_logged_in.post("/admin/study/study/", action).content.decode()
    assert "<td>test-study</td><td>4</td><td>4</td><td>0</td><td>time unknown" in page
    assert not ComputeJob.objects.exists()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client_logged_in.post("/admin/study/study/", {**action, "apply": "1"}, follow=True)
    assert "queued 4 image x model units" in response.content.decode()
    assert ComputeJob.objects.get().total == 4 and len(callbacks) == 1


def test_an_image_uploaded_in_the_admin_gets_its_hash_and_size(admin_client_logged_in, image_set):
    upload = SimpleUploadedFile(
        "new.png", gradient_image(width=50, height=40, seed=9), content_type="image/png"
    )
    response = admin_client_logged_in.post(
        "/admin/catalogue/image/add/",
        {"image_set": image_set.pk, "name": "new", "file": upload, "class_name": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    image = Image.objects.get(name="new")
    assert (image.width, image.height, len(image.sha256)) == (50, 40, 64)
    assert io.BytesIO(image.file.read()).getvalue() == gradient_image(width=50, height=40, seed=9)


def test_the_study_form_refuses_unknown_methods_and_parameters(admin_client_logged_in, study):
    form = {
        "slug": study.slug,
        "title": study.title,
        "image_set": study.image_set_id,
        "instructions": study.instructions,
        "consent_text": study.consent_text,
        "trials_per_participant": 2,
        "target_annotations_per_image": 10,
        "model_specs": [],
        "target_policy": "label_or_predicted",
        "completion_code": "ABC",
        "status": "open",
        "methods": '["xrai", "lime"]',
        "method_params": "{}",
        "practice_trials": 0,
        "attention_checks": 0,
        "attention_min_inside": 0.5,
        "attention_policy": "flag",
        "time_limit_s": 0,
        "min_coverage": 0.005,
        "min_seconds_per_map": 3,
    }
    response = admin_client_logged_in.post(f"/admin/study/study/{study.pk}/change/", form)
    assert response.status_code == 400 and "unknown method &#x27;lime&#x27;" in response.content.decode()
    form |= {"methods": '["xrai"]', "method_params": '{"xrai": {"stepz": 3}}'}
    response = admin_client_logged_in.post(f"/admin/study/study/{study.pk}/change/", form)
    assert "unknown parameters for xrai: stepz" in response.content.decode()
    form |= {"method_params": '{"xrai": {"steps": 3}}'}
    response = admin_client_logged_in.post(f"/admin/study/study/{study.pk}/change/", form)
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.method_params == {"xrai": {"steps": 3}}

"""Ready-made studies: each template makes a study participants can take and the worker can
compute, or says clearly why it cannot."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from catalogue.models import ImageSet
from catalogue.services import image_create
from explain.models import ComputeJob, ModelSpec
from study.models import Participant, Study
from study.presets import PresetError, study_from_template
from study.services import participant_start
from tests.conftest import gradient_image


@pytest.fixture
def second_model(db):
    return ModelSpec.objects.create(name="lite0-copy", source=ModelSpec.Source.EFFICIENTNET_LITE0)


@pytest.fixture
def admin_client(client, db):
    client.force_login(get_user_model().objects.create_superuser("boss", password="boss-pass-123"))
    return client


def test_compare_models_needs_two_models_and_saves_nothing_otherwise(image_set, default_model):
    with pytest.raises(PresetError, match="at least 2 models"):
        study_from_template(template="compare_models", image_set=image_set, models=[default_model])
    assert not Study.objects.exists()


def test_compare_models_makes_a_working_study(image_set, default_model, second_model):
    study = study_from_template(
        template="compare_models", image_set=image_set, models=[default_model, second_model]
    )
    assert study.template == "compare_models"
    assert study.status == Study.Status.OPEN
    assert set(study.model_specs.all()) == {default_model, second_model}
    assert study.methods == ["xrai", "integrated_gradients"]
    assert study.trials_per_participant == 4  # every image of the 4-image set
    participant = participant_start(study=study, recruiter_ids={})
    assert participant.trials.count() == 4


def test_an_existing_slug_gets_a_suffix(image_set, default_model, second_model):
    first = study_from_template(
        template="compare_models", image_set=image_set, models=[default_model, second_model]
    )
    second = study_from_template(
        template="compare_models", image_set=image_set, models=[default_model, second_model]
    )
    assert second.slug == f"{first.slug}-2"


def test_unknown_method_is_a_clear_error(image_set, default_model, second_model):
    with pytest.raises(PresetError, match="unknown method 'lime'"):
        study_from_template(
            template="compare_models",
            image_set=image_set,
            models=[default_model, second_model],
            methods=["lime"],
        )
    assert not Study.objects.exists()


def test_cue_conflict_needs_texture_labels(image_set, default_model):
    with pytest.raises(PresetError, match="texture label"):
        study_from_template(template="cue_conflict", image_set=image_set, models=[default_model])
    image_set.images.filter(name="img0").update(texture_class_index=281, texture_class_name="tabby")
    study = study_from_template(template="cue_conflict", image_set=image_set, models=[default_model])
    assert study.target_policy == Study.TargetPolicy.SHAPE_AND_TEXTURE


def test_biased_model_asks_for_training_first(db):
    with pytest.raises(PresetError, match="train_biased_model"):
        study_from_template(template="biased_model")


def test_a_set_of_only_practice_images_is_refused(default_model, second_model):
    image_set = ImageSet.objects.create(name="practice only")
    image = image_create(image_set=image_set, name="p", content=gradient_image(seed=9), filename="p.png")
    image.is_practice = True
    image.save()
    with pytest.raises(PresetError, match="no images to show participants"):
        study_from_template(
            template="compare_models", image_set=image_set, models=[default_model, second_model]
        )


def test_admin_page_creates_the_study_and_queues_its_maps(
    admin_client, image_set, default_model, second_model, django_capture_on_commit_callbacks
):
    assert "New study from a template" in admin_client.get("/admin/study/study/").content.decode()
    page = admin_client.get("/admin/study/study/from-template/")
    assert page.status_code == 200
    with django_capture_on_commit_callbacks(execute=False):
        response = admin_client.post(
            "/admin/study/study/from-template/",
            {
                "template": "compare_models",
                "image_set": image_set.pk,
                "models": [default_model.pk, second_model.pk],
                "slug": "two-models",
                "compute_now": "on",
            },
        )
    study = Study.objects.get(slug="two-models")
    assert response.status_code == 302 and response["Location"].endswith(
        f"/admin/study/study/{study.pk}/change/"
    )
    job = ComputeJob.objects.get(study=study)
    assert job.total == 4 * 2  # every image x both models
    # The participant link works: consent, then trials.
    from django.test import Client

    participant_client = Client()
    assert participant_client.get("/s/two-models/").status_code == 200
    participant_client.post("/s/two-models/consent", {"decision": "accept"})
    assert Participant.objects.filter(study=study).count() == 1


def test_admin_page_shows_the_reason_when_a_template_does_not_fit(admin_client, image_set, default_model):
    response = admin_client.post(
        "/admin/study/study/from-template/",
        {"template": "compare_models", "image_set": image_set.pk, "models": [default_model.pk]},
    )
    assert response.status_code == 400  # a refused form is a 4xx
    assert "needs at least 2 models" in response.content.decode()
    assert not Study.objects.exists()


def test_create_study_command(image_set, default_model, second_model, capsys):
    call_command(
        "create_study",
        "--template",
        "compare_models",
        "--set",
        image_set.name,
        "--models",
        f"{default_model.name},{second_model.name}",
        "--slug",
        "cmd-study",
    )
    assert "created study cmd-study" in capsys.readouterr().out
    assert Study.objects.get(slug="cmd-study").model_specs.count() == 2
    with pytest.raises(CommandError, match="no model named 'nope'"):
        call_command(
            "create_study", "--template", "compare_models", "--set", image_set.name, "--models", "nope"
        )

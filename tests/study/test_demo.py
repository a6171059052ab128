import io

from django.core.management import call_command

from study.models import Study


def test_demo_creates_a_ready_study_from_offline_images_and_is_rerunnable(db):
    call_command("demo", stdout=io.StringIO())
    call_command("demo", stdout=io.StringIO())
    study = Study.objects.get(slug="demo")
    names = set(study.image_set.images.values_list("name", flat=True))
    assert names == {"chelsea", "coffee", "motorcycle", "rocket", "astronaut", "grace_hopper", "red_circle"}
    assert study.image_set.images.get(name="rocket").is_practice
    check = study.image_set.images.get(name="red_circle")
    assert check.is_attention_check and check.target_mask_png
    assert (study.practice_trials, study.attention_checks) == (1, 1)
    assert study.status == Study.Status.OPEN
    assert sorted(study.model_specs.values_list("name", flat=True)) == [
        "efficientnet-lite0",
        "efficientnet-lite1",
        "efficientnet-lite2",
    ]
    assert study.methods == ["integrated_gradients", "xrai"]
    chelsea = study.image_set.images.get(name="chelsea")
    assert (chelsea.width, chelsea.height, chelsea.class_index) == (451, 300, 285)

import pytest

from catalogue.demo_data import demo_image_path
from catalogue.models import ImageSet
from catalogue.services import image_create
from explain.models import SaliencyMap
from explain.services import image_maps_compute, method_params, model_space_values
from explain.targets import explained_classes
from study.models import Study


@pytest.fixture
def tabby_study(db, default_model):
    image_set = ImageSet.objects.create(name="cats")
    path = demo_image_path("skimage:chelsea.png")
    # Labelled "tabby" (281); the model predicts "Egyptian cat" (285).
    image_create(
        image_set=image_set,
        name="chelsea",
        content=path.read_bytes(),
        filename=path.name,
        class_index=281,
        class_name="tabby",
    )
    study = Study.objects.create(
        slug="cats",
        title="Cats",
        image_set=image_set,
        methods=["integrated_gradients"],
        method_params={"integrated_gradients": {"steps": 4, "baseline": "black_white"}},
        target_policy=Study.TargetPolicy.LABEL_AND_PREDICTED,
    )
    study.model_specs.add(default_model)
    return study


def test_label_and_predicted_policy_stores_a_map_for_each_class(tabby_study, default_model):
    image = tabby_study.image_set.images.get()
    maps = image_maps_compute(
        image=image,
        spec=default_model,
        method_params=tabby_study.full_method_params(),
        target_policy=tabby_study.target_policy,
    )
    assert sorted(m.target_class for m in maps) == [281, 285]
    # black and white baselines, in the model's own input space
    assert [b["baseline"] for b in maps[0].details["baselines"]] == ["black", "white"]
    # computing again finds both stored
    image_maps_compute(
        image=image,
        spec=default_model,
        method_params=tabby_study.full_method_params(),
        target_policy=tabby_study.target_policy,
    )
    assert SaliencyMap.objects.count() == 2


@pytest.mark.parametrize(
    ("policy", "label", "expected"),
    [
        ("label_or_predicted", 281, [281]),
        ("label_or_predicted", None, [285]),
        ("predicted", 281, [285]),
        ("label_and_predicted", 281, [281, 285]),
        ("label_and_predicted", 285, [285]),
    ],
)
def test_explained_classes_follow_the_study_policy(policy, label, expected):
    assert explained_classes(predicted=285, labelled=label, texture=None, policy=policy) == expected


def test_black_and_white_are_computed_from_the_models_normalisation():
    class Loaded:
        mean, std = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)

    values = model_space_values("integrated_gradients", Loaded)
    assert values == {"black_value": [-1.0, -1.0, -1.0], "white_value": [1.0, 1.0, 1.0]}


def test_unknown_methods_and_parameters_are_refused():
    with pytest.raises(ValueError, match="unknown method"):
        method_params("lime")
    with pytest.raises(ValueError, match="unknown parameters for xrai: stepz"):
        method_params("xrai", {"stepz": 1})


def test_a_map_whose_completeness_gap_is_undefined_is_stored_with_null(db, tmp_path, image_set):
    """A model blind to its input scores the image and the baseline the same: IG's relative
    completeness gap is 0/0. JSON (and PostgreSQL) has no NaN, so it is stored as null."""
    import torch
    import torchvision
    from django.core.files import File

    from explain.models import ModelSpec
    from explain.services import saliency_map_get_or_create

    blind = torchvision.models.resnet18(num_classes=2)
    for parameter in blind.parameters():
        torch.nn.init.zeros_(parameter)
    weights = tmp_path / "blind.pt"
    torch.save(blind.state_dict(), weights)
    spec = ModelSpec(
        name="blind", source=ModelSpec.Source.TORCHVISION, architecture="resnet18", class_names=["a", "b"]
    )
    with open(weights, "rb") as handle:
        spec.weights_file.save("blind.pt", File(handle), save=False)
    spec.save()
    params = method_params("integrated_gradients", {"steps": 4})
    saliency_map = saliency_map_get_or_create(
        image=image_set.images.first(),
        spec=spec,
        method="integrated_gradients",
        params=params,
        target_class=0,
    )
    saliency_map.refresh_from_db()
    gaps = {
        key: value for key, value in saliency_map.details.items() if "gap" in key or "completeness" in key
    }
    assert gaps and None in gaps.values(), saliency_map.details

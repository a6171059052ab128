import pytest

from explain.models import SaliencyMap
from explain.services import explained_classes, image_maps_compute, method_params, model_space_values
from study.demo_data import demo_image_path
from study.models import ImageSet, Study
from study.services import image_create


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
    maps = image_maps_compute(image=image, spec=default_model, study=tabby_study)
    assert sorted(m.target_class for m in maps) == [281, 285]
    # black and white baselines, in the model's own input space
    assert [b["baseline"] for b in maps[0].details["baselines"]] == ["black", "white"]
    # computing again finds both stored
    image_maps_compute(image=image, spec=default_model, study=tabby_study)
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
    class Image:
        class_index = label

    class Prediction:
        top5 = [{"index": 285}]

    assert explained_classes(Image, Prediction, policy) == expected


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

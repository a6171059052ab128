"""A model with its own classes, as the README's walk-through adds one: 3 architectural styles
fine-tuned elsewhere, uploaded in the admin, its classes shown on its page and its test load,
images labelled by class name against it, and maps of the labelled class."""

import io

import pytest
import torch
import torchvision
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalogue.models import ImageSet
from explain.models import ModelSpec, SaliencyMap
from explain.services import image_maps_compute, method_params, model_spec_load, saliency_map_get_or_create
from explain.targets import TargetPolicy
from tests.conftest import gradient_image

STYLES = ["gothic", "baroque", "modernist"]


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_user("curator", password="curator-pass-123", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label__in=("explain", "catalogue"),
            codename__regex=r"_(modelspec|imageset|image)$",
        )
    )
    client.force_login(user)
    return client


@pytest.fixture
def styles_model(staff_client) -> ModelSpec:
    """A 3-class mobilenet_v3_small state dict (random weights stand in for the fine-tuned
    ones), added through the admin's form as the walk-through does."""
    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.save(torchvision.models.mobilenet_v3_small(num_classes=3).state_dict(), buffer)
    page = staff_client.post(
        reverse("admin:explain_modelspec_add"),
        {
            "name": "styles",
            "source": ModelSpec.Source.TORCHVISION,
            "architecture": "mobilenet_v3_small",
            "weights_file": SimpleUploadedFile("styles.pt", buffer.getvalue()),
            "input_size": 64,
            "mean": "[0.485, 0.456, 0.406]",
            "std": "[0.229, 0.224, 0.225]",
            "class_names": '["gothic", "baroque", "modernist"]',
        },
    )
    assert page.status_code == 302, page.context["adminform"].form.errors
    return ModelSpec.objects.get(name="styles")


def test_the_change_page_shows_the_class_count_and_the_list(staff_client, styles_model, default_model):
    html = staff_client.get(
        reverse("admin:explain_modelspec_change", args=[styles_model.pk])
    ).content.decode()
    assert '<details class="model-class-names" id="model-class-names">' in html
    assert "<summary>3 classes</summary>" in html
    assert '<li value="0">gothic</li><li value="1">baroque</li><li value="2">modernist</li>' in html
    imagenet = staff_client.get(reverse("admin:explain_modelspec_change", args=[default_model.pk]))
    assert "<summary>1000 ImageNet classes (class_names left empty)</summary>" in imagenet.content.decode()
    # An HTML class name is shown as text, not markup.
    styles_model.class_names = ["<b>gothic</b>", "baroque", "modernist"]
    styles_model.save()
    html = staff_client.get(
        reverse("admin:explain_modelspec_change", args=[styles_model.pk])
    ).content.decode()
    assert '<li value="0">&lt;b&gt;gothic&lt;/b&gt;</li>' in html


def test_the_test_load_lists_the_classes(staff_client, styles_model):
    page = staff_client.post(
        reverse("admin:explain_modelspec_test_load", args=[styles_model.pk]), {"sample": "chelsea"}
    )
    assert page.context["result"]["class_names"] == STYLES
    assert page.context["result"]["imagenet_classes"] is False
    html = page.content.decode()
    assert '<details class="model-class-names" id="test-load-classes">' in html
    assert "<summary>3 classes</summary>" in html and '<li value="2">modernist</li>' in html
    # The top 3 of 3 classes: their probabilities add up to 1.
    assert sum(row["probability"] for row in page.context["result"]["top5"]) == pytest.approx(1, abs=1e-5)


def _upload(staff_client, image_set, labels: str):
    return staff_client.post(
        f"/admin/catalogue/imageset/{image_set.pk}/upload/",
        {
            "files": [
                SimpleUploadedFile(f"{name}.png", gradient_image(seed=seed), content_type="image/png")
                for seed, name in enumerate(("cathedral", "palace", "tower"))
            ],
            "labels": SimpleUploadedFile("labels.csv", labels.encode(), content_type="text/csv"),
            "model": "styles",
        },
        follow=True,
    )


def test_labels_by_class_name_against_the_model_then_maps_of_the_labelled_class(staff_client, styles_model):
    image_set = ImageSet.objects.create(name="facades")
    # An ImageNet name and a misspelt style are refused, naming the model and the close match.
    refused = _upload(staff_client, image_set, "file,label\ncathedral,Gothic\npalace,baroqe\ntower,church\n")
    assert refused.status_code == 400
    page = refused.content.decode()
    assert "label &#x27;baroqe&#x27; is not a class name of model &#x27;styles&#x27;" in page
    assert "close matches: &#x27;baroque&#x27; (1)" in page
    assert "label &#x27;church&#x27; is not a class name of model &#x27;styles&#x27;" in page
    assert not image_set.images.exists()

    _upload(staff_client, image_set, "file,label\ncathedral,Gothic\npalace,BAROQUE\ntower,2\n")
    labelled = dict(image_set.images.values_list("name", "class_index"))
    assert labelled == {"cathedral": 0, "palace": 1, "tower": 2}
    assert dict(image_set.images.values_list("name", "class_name")) == {
        "cathedral": "gothic",
        "palace": "baroque",
        "tower": "modernist",
    }
    for image in image_set.images.all():
        image_maps_compute(
            image=image,
            spec=styles_model,
            method_params={"vanilla_gradient": method_params("vanilla_gradient")},
            target_policy=TargetPolicy.LABEL_OR_PREDICTED,
        )
    stored = {m.image.name: m for m in SaliencyMap.objects.filter(model=styles_model).select_related("image")}
    assert {name: m.target_class for name, m in stored.items()} == labelled
    assert all(m.map_array().shape == (64, 64) and m.map_array().max() > 0 for m in stored.values())


HALF = 8


class StyleAndPlace(torch.nn.Module):
    """Two heads with their own classes: "style" (3) sees only the left half of the image,
    "place" (inside/outside) only the right half (a 1x1 convolution mixes no pixels)."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Conv2d(3, 4, 1)
        self.style = torch.nn.Linear(4 * 16 * HALF, 3)
        self.place = torch.nn.Linear(4 * 16 * HALF, 2)

    def forward(self, x):
        features = torch.tanh(self.features(x))
        return {
            "style": self.style(features[..., :HALF].flatten(1)),
            "place": self.place(features[..., HALF:].flatten(1)),
        }


@pytest.fixture(scope="module")
def two_head_program(tmp_path_factory) -> bytes:
    torch.manual_seed(4)
    path = tmp_path_factory.mktemp("heads") / "style-place.pt2"
    program = torch.export.export(
        StyleAndPlace().eval(),
        (torch.randn(2, 3, 16, 16),),
        dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
    )
    torch.export.save(program, str(path))
    return path.read_bytes()


def _head_spec(settings, program: bytes, name: str, head: str, class_names: list[str]) -> ModelSpec:
    weights = settings.MEDIA_ROOT / "weights"
    weights.mkdir(exist_ok=True)
    (weights / "style-place.pt2").write_bytes(program)
    return ModelSpec.objects.create(
        name=name,
        source=ModelSpec.Source.TORCH_EXPORT,
        weights_file="weights/style-place.pt2",
        input_size=16,
        mean=[0.5] * 3,
        std=[0.25] * 3,
        class_names=class_names,
        head=head,
    )


def test_each_head_of_a_two_head_model_is_a_model_with_its_own_classes_and_maps(
    db, settings, two_head_program, image_set
):
    style = _head_spec(settings, two_head_program, "facades-style", "style", STYLES)
    place = _head_spec(settings, two_head_program, "facades-place", "place", ["inside", "outside"])
    assert model_spec_load(style).class_names == tuple(STYLES)
    assert {row["name"] for row in model_spec_load(place).top_k(torch.zeros(1, 3, 16, 16))[0]} == {
        "inside",
        "outside",
    }
    image = image_set.images.first()
    maps = {
        spec.head: saliency_map_get_or_create(
            image=image,
            spec=spec,
            method="vanilla_gradient",
            params=method_params("vanilla_gradient"),
            target_class=1,
        ).map_array()
        for spec in (style, place)
    }
    # Each head's map lies on the half that head sees, and only there.
    assert maps["style"][:, :HALF].sum() > 0 and (maps["style"][:, HALF:] == 0).all()
    assert maps["place"][:, HALF:].sum() > 0 and (maps["place"][:, :HALF] == 0).all()


@pytest.mark.parametrize(
    ("head", "class_names", "message"),
    [
        ("", STYLES, r"the model returns several heads \(style, place\); set head to the one it explains"),
        ("colour", STYLES, r"no head 'colour'; its heads: 'style', 'place'"),
        ("place", STYLES, r"head place of the model outputs 2 classes but class_names lists 3"),
        ("1", ["inside", "outside"], None),  # a dict's heads by position, too
    ],
)
def test_a_multi_head_model_needs_a_head_it_has_with_that_heads_class_count(
    db, settings, two_head_program, head, class_names, message
):
    spec = _head_spec(settings, two_head_program, "facades", head, class_names)
    if message is None:
        assert model_spec_load(spec).class_names == ("inside", "outside")
        return
    with pytest.raises(ValueError, match=message):
        model_spec_load(spec)


def test_the_admin_adds_one_head_and_names_the_heads_when_none_is_given(staff_client, two_head_program):
    def add(head: str):
        return staff_client.post(
            reverse("admin:explain_modelspec_add"),
            {
                "name": "facades-place",
                "source": ModelSpec.Source.TORCH_EXPORT,
                "weights_file": SimpleUploadedFile("style-place.pt2", two_head_program),
                "input_size": 16,
                "mean": "[0.5, 0.5, 0.5]",
                "std": "[0.25, 0.25, 0.25]",
                "class_names": '["inside", "outside"]',
                "head": head,
            },
        )

    page = add("")
    assert page.status_code == 400
    assert (
        "the model returns several heads (style, place)"
        in page.context["adminform"].form.non_field_errors()[0]
    )
    assert not ModelSpec.objects.exists()
    page = add("place")
    assert page.status_code == 302, page.context["adminform"].form.errors
    assert ModelSpec.objects.get(name="facades-place").head == "place"

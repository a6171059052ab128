"""Adding models: torchvision/timm weights by name, TorchScript files, the admin's test load."""

import io

import numpy as np
import pytest
import torch
import torchvision
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from explain import model_zoo, normalisation
from explain.models import ModelSpec
from explain.services import method_params, model_spec_load, saliency_map_get_or_create
from explain.watermark import WatermarkNet


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "weights").mkdir()


def _saved(tmp_path, name: str, save) -> str:
    save(tmp_path / "weights" / name)
    return f"weights/{name}"


def _state_dict_bytes(module: torch.nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.getvalue()


@pytest.fixture
def scripted(tmp_path):
    """A scripted 3-class WatermarkNet with random weights and its file name under MEDIA_ROOT."""
    torch.manual_seed(1)
    reference = WatermarkNet(num_classes=3).eval()
    name = _saved(
        tmp_path, "scripted.pt", lambda path: torch.jit.save(torch.jit.script(reference), str(path))
    )
    return reference, name


def test_a_torchscript_file_loads_and_predicts(db, scripted):
    reference, name = scripted
    spec = ModelSpec.objects.create(
        name="scripted",
        source=ModelSpec.Source.TORCHSCRIPT,
        weights_file=name,
        input_size=32,
        mean=[0.5, 0.5, 0.5],
        std=[0.25, 0.25, 0.25],
        class_names=["red", "green", "blue"],
    )
    loaded = model_spec_load(spec)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        np.testing.assert_allclose(loaded.module(x).numpy(), reference(x).numpy(), rtol=1e-5, atol=1e-6)
    top = loaded.top_k(x)
    assert [len(row) for row in top] == [3, 3]  # all three classes, as there are fewer than five
    assert {row["name"] for row in top[0]} == {"red", "green", "blue"}
    assert loaded.mean == (0.5, 0.5, 0.5) and loaded.input_size == 32
    assert not loaded.supports_layer_methods


def test_gradient_methods_run_on_a_torchscript_model_and_grad_cam_says_why_not(db, scripted, image_set):
    _, name = scripted
    spec = ModelSpec.objects.create(
        name="scripted",
        source=ModelSpec.Source.TORCHSCRIPT,
        weights_file=name,
        input_size=32,
        mean=[0.5] * 3,
        std=[0.25] * 3,
        class_names=["red", "green", "blue"],
    )
    image = image_set.images.first()
    stored = saliency_map_get_or_create(
        image=image,
        spec=spec,
        method="integrated_gradients",
        params=method_params("integrated_gradients"),
        target_class=2,
    )
    assert stored.map_array().shape == (32, 32) and stored.map_array().sum() > 0
    with pytest.raises(ValueError, match="grad_cam needs the model's named layers.*TorchScript"):
        saliency_map_get_or_create(
            image=image, spec=spec, method="grad_cam", params=method_params("grad_cam"), target_class=2
        )


def test_a_torchvision_state_dict_loads_by_architecture_name(db, tmp_path):
    torch.manual_seed(0)
    reference = torchvision.models.mobilenet_v3_small(num_classes=4).eval()
    name = _saved(tmp_path, "mnv3.pt", lambda path: torch.save(reference.state_dict(), path))
    spec = ModelSpec.objects.create(
        name="mnv3",
        source=ModelSpec.Source.TORCHVISION,
        architecture="mobilenet_v3_small",
        weights_file=name,
        input_size=64,
        class_names=["a", "b", "c", "d"],
    )
    loaded = model_spec_load(spec)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        np.testing.assert_allclose(loaded.module(x).numpy(), reference(x).numpy(), rtol=1e-4, atol=1e-5)
        # The folded copy for gradient methods computes the same logits.
        np.testing.assert_allclose(
            loaded.gradient_module(x).numpy(), reference(x).numpy(), rtol=1e-3, atol=1e-4
        )
    assert loaded.batch_norms_folded > 0
    assert loaded.mean == normalisation.IMAGENET_MEAN  # empty mean/std: ImageNet's


def _resnet18_weights(tmp_path, classes: int) -> str:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=classes)
    return _saved(tmp_path, f"resnet18-{classes}.pt", lambda path: torch.save(model.state_dict(), path))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"architecture": "resnet34"},
            r"do not fit the architecture: .*tensors are missing, e\.g\. layer1\.2",
        ),
        (
            {"class_names": ["a", "b", "c", "d", "e"]},
            r"weights have 3 classes \(fc\.weight\) but class_names lists 5",
        ),
        (
            {"class_names": []},
            r"weights have 3 classes .* lists 1000 .*empty class_names means the 1000 ImageNet",
        ),
        ({"architecture": "resnet9000"}, "torchvision has no architecture 'resnet9000'"),
        (
            {"source": ModelSpec.Source.TIMM, "architecture": "no_such_net"},
            "timm has no architecture 'no_such_net'",
        ),
        ({"source": ModelSpec.Source.TORCHSCRIPT}, "not a TorchScript model saved by torch.jit.save"),
        ({"mean": [0.5, 0.5]}, r"mean must be a list of 3 numbers"),
        ({"std": [0.2, 0.0, 0.2]}, "std values must be positive"),
        ({"class_names": ["a", 2, "c"]}, "class_names must be a list of non-empty strings"),
        ({"class_names": "a,b,c"}, "class_names must be a list of non-empty strings"),
    ],
)
def test_models_that_cannot_work_give_a_clear_error(db, tmp_path, changes, message):
    fields = {
        "name": "broken",
        "source": ModelSpec.Source.TORCHVISION,
        "architecture": "resnet18",
        "weights_file": _resnet18_weights(tmp_path, 3),
        "input_size": 64,
        "class_names": ["a", "b", "c"],
        **changes,
    }
    with pytest.raises(ValueError, match=message):
        model_spec_load(ModelSpec.objects.create(**fields))


def test_a_torchscript_file_given_as_state_dict_is_named_as_such(db, scripted):
    _, name = scripted
    spec = ModelSpec.objects.create(
        name="mixed-up", source=ModelSpec.Source.TORCHVISION, architecture="resnet18", weights_file=name
    )
    with pytest.raises(ValueError, match="not a state_dict saved by torch.save.*TorchScript file"):
        model_spec_load(spec)


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_user("modeller", password="model-pass-123", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="explain", codename__endswith="modelspec")
    )
    client.force_login(user)
    return client


def test_the_admin_test_load_shows_the_top5_of_the_sample_image(staff_client, default_model):
    url = reverse("admin:explain_modelspec_test_load", args=[default_model.pk])
    page = staff_client.get(url)
    assert page.status_code == 200 and b'value="chelsea" selected' in page.content
    page = staff_client.post(url, {"sample": "chelsea"})
    assert page.status_code == 200
    top5 = page.context["result"]["top5"]
    assert len(top5) == 5 and top5[0]["name"] == "Egyptian cat" and top5[0]["probability"] > 0.5
    html = page.content.decode()
    assert '<table id="test-load-top5">' in html and "Egyptian cat" in html and "Load time:" in html
    sha = model_zoo.file_sha256(model_zoo.efficientnet_lite0_weights_path())
    assert sha in html
    default_model.refresh_from_db()
    assert default_model.weights_sha256 == sha
    # The change page links to it.
    change = staff_client.get(reverse("admin:explain_modelspec_change", args=[default_model.pk]))
    assert url in change.content.decode()


def test_the_admin_action_test_loads_the_selected_models(staff_client, db, scripted):
    _, name = scripted
    spec = ModelSpec.objects.create(
        name="scripted",
        source=ModelSpec.Source.TORCHSCRIPT,
        weights_file=name,
        input_size=32,
        mean=[0.5] * 3,
        std=[0.25] * 3,
        class_names=["red", "green", "blue"],
    )
    page = staff_client.post(
        reverse("admin:explain_modelspec_changelist"),
        {"action": "test_load_action", "_selected_action": [spec.pk]},
        follow=True,
    )
    texts = [str(message) for message in page.context["messages"]]
    assert len(texts) == 1 and texts[0].startswith("scripted: loaded in ")
    assert all(colour in texts[0] for colour in ("red", "green", "blue"))


def _add_form(source, upload, **fields) -> dict:
    return {
        "name": "uploaded",
        "source": source,
        "architecture": fields.get("architecture", ""),
        "weights_file": upload,
        "input_size": fields.get("input_size", 64),
        "mean": fields.get("mean", "[0.485, 0.456, 0.406]"),
        "std": fields.get("std", "[0.229, 0.224, 0.225]"),
        "class_names": fields.get("class_names", '["a", "b", "c"]'),
    }


def test_the_admin_rejects_a_broken_upload_and_saves_nothing(staff_client, tmp_path):
    page = staff_client.post(
        reverse("admin:explain_modelspec_add"),
        _add_form(
            ModelSpec.Source.TORCHVISION,
            SimpleUploadedFile("model.pt", b"not a model"),
            architecture="resnet18",
        ),
    )
    assert page.status_code == 400  # refused: a 4xx, with the reason on the form
    errors = page.context["adminform"].form.non_field_errors()
    assert errors and "The model does not load: the weights file is not a state_dict" in errors[0]
    assert not ModelSpec.objects.exists()
    assert list((tmp_path / "weights").iterdir()) == []


def test_the_admin_names_a_class_count_mismatch_of_an_upload(staff_client):
    torch.manual_seed(0)
    weights = _state_dict_bytes(torchvision.models.resnet18(num_classes=3))
    page = staff_client.post(
        reverse("admin:explain_modelspec_add"),
        _add_form(
            ModelSpec.Source.TORCHVISION,
            SimpleUploadedFile("r18.pt", weights),
            architecture="resnet18",
            class_names='["a", "b"]',
        ),
    )
    errors = page.context["adminform"].form.non_field_errors()
    assert "the weights have 3 classes (fc.weight) but class_names lists 2" in errors[0]
    assert not ModelSpec.objects.exists()


def test_the_admin_puts_a_settings_error_on_its_field(staff_client):
    page = staff_client.post(
        reverse("admin:explain_modelspec_add"),
        _add_form(ModelSpec.Source.EFFICIENTNET_LITE0, "", mean="[0.5, 0.5]"),
    )
    assert "mean must be a list of 3 numbers" in page.context["adminform"].form.errors["mean"][0]
    assert not ModelSpec.objects.exists()


def test_the_admin_saves_an_upload_that_loads(staff_client, tmp_path):
    torch.manual_seed(0)
    weights = _state_dict_bytes(torchvision.models.resnet18(num_classes=3))
    page = staff_client.post(
        reverse("admin:explain_modelspec_add"),
        _add_form(
            ModelSpec.Source.TORCHVISION, SimpleUploadedFile("r18.pt", weights), architecture="resnet18"
        ),
    )
    assert page.status_code == 302, page.context["adminform"].form.errors
    spec = ModelSpec.objects.get(name="uploaded")
    assert (tmp_path / spec.weights_file.name).read_bytes() == weights
    assert model_spec_load(spec).class_names == ("a", "b", "c")

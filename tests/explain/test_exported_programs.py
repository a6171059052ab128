"""Models uploaded as torch.export programs (.pt2), and TorchScript files loading without
torch's deprecation warnings. The programs are exported here from a tiny CNN."""

import warnings

import numpy as np
import pytest
import torch
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from explain import model_zoo, saliency
from explain.models import ModelSpec
from explain.services import (
    method_params,
    model_spec_load,
    model_spec_test_load,
    saliency_map_get_or_create,
)

SIZE = 16
CLASSES = ["gothic", "baroque", "modernist"]


class TinyCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.norm = torch.nn.BatchNorm2d(4)
        self.head = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.head(torch.relu(self.norm(self.conv(x))).mean(dim=(2, 3)))


def _export(model, batch: int, dynamic: bool, path):
    example = (torch.randn(batch, 3, SIZE, SIZE),)
    shapes = {"x": {0: torch.export.Dim("batch")}} if dynamic else None
    torch.export.save(torch.export.export(model, example, dynamic_shapes=shapes), str(path))
    return path.read_bytes()


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    """The reference module and the bytes of its programs: a dynamic batch, a fixed batch of
    1 and of 4 (exporting takes seconds, so once per module)."""
    torch.manual_seed(3)
    reference = TinyCNN()
    with torch.no_grad():  # batch-norm statistics that are not the identity
        reference.norm.running_mean.uniform_(-0.5, 0.5)
        reference.norm.running_var.uniform_(0.5, 2.0)
    reference.eval()
    folder = tmp_path_factory.mktemp("programs")
    return {
        "reference": reference,
        "dynamic": _export(reference, 2, True, folder / "dynamic.pt2"),
        "batch1": _export(reference, 1, False, folder / "batch1.pt2"),
        "batch4": _export(reference, 4, False, folder / "batch4.pt2"),
    }


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "weights").mkdir()


def _spec(tmp_path, content: bytes, *, file_name="model.pt2", source=ModelSpec.Source.TORCH_EXPORT, **fields):
    (tmp_path / "weights" / file_name).write_bytes(content)
    return ModelSpec.objects.create(
        name=fields.pop("name", "exported"),
        source=source,
        weights_file=f"weights/{file_name}",
        input_size=fields.pop("input_size", SIZE),
        mean=[0.5] * 3,
        std=[0.25] * 3,
        class_names=fields.pop("class_names", CLASSES),
        **fields,
    )


def test_a_program_with_a_dynamic_batch_loads_and_computes_the_models_logits(db, tmp_path, programs):
    # Stored under a name without .pt2, as uploads may be: the file is recognised by content.
    loaded = model_spec_load(_spec(tmp_path, programs["dynamic"], file_name="upload.bin"))
    x = torch.randn(5, 3, SIZE, SIZE)
    with torch.no_grad():
        np.testing.assert_allclose(
            loaded.module(x).numpy(), programs["reference"](x).numpy(), rtol=1e-5, atol=1e-6
        )
    assert loaded.kind == "torch.export program" and not loaded.supports_layer_methods
    assert loaded.notes == () and loaded.batch_norms_folded == 0
    assert {row["name"] for row in loaded.top_k(x)[0]} == set(CLASSES)


@pytest.mark.parametrize("method", ["vanilla_gradient", "integrated_gradients"])
def test_gradients_flow_through_the_program_as_through_the_model(db, tmp_path, programs, method):
    """The maps on the loaded program equal the maps on the module it was exported from."""
    loaded = model_spec_load(_spec(tmp_path, programs["dynamic"]))
    torch.manual_seed(0)
    images = torch.randn(3, 3, SIZE, SIZE)
    on_program = saliency.compute(method, loaded.gradient_module, images, [0, 1, 2])
    on_reference = saliency.compute(method, programs["reference"], images, [0, 1, 2])
    assert np.abs(on_reference).sum() > 0
    np.testing.assert_allclose(on_program, on_reference, rtol=1e-4, atol=1e-6)


def test_stored_maps_of_a_program_and_grad_cam_says_why_not(db, tmp_path, programs, image_set):
    spec = _spec(tmp_path, programs["dynamic"])
    image = image_set.images.first()
    for method in ("integrated_gradients", "vanilla_gradient"):
        stored = saliency_map_get_or_create(
            image=image, spec=spec, method=method, params=method_params(method), target_class=1
        )
        assert stored.map_array().shape == (SIZE, SIZE) and stored.map_array().sum() > 0
    with pytest.raises(
        ValueError, match="grad_cam needs the model's named layers, which the torch.export program"
    ):
        saliency_map_get_or_create(
            image=image, spec=spec, method="grad_cam", params=method_params("grad_cam"), target_class=1
        )


def test_a_program_exported_for_one_image_runs_one_image_at_a_time(db, tmp_path, programs):
    loaded = model_spec_load(_spec(tmp_path, programs["batch1"]))
    assert len(loaded.notes) == 1 and "fixed batch of 1 image" in loaded.notes[0]
    assert 'torch.export.Dim("batch")' in loaded.notes[0]
    images = torch.randn(4, 3, SIZE, SIZE)
    # IG sends its path points in batches of 8: the same maps as the model itself gives.
    on_program = saliency.compute("integrated_gradients", loaded.gradient_module, images, [2, 0, 1, 2])
    on_reference = saliency.compute("integrated_gradients", programs["reference"], images, [2, 0, 1, 2])
    np.testing.assert_allclose(on_program, on_reference, rtol=1e-4, atol=1e-6)


def test_a_program_exported_for_a_fixed_batch_of_several_is_refused_naming_dim(db, tmp_path, programs):
    with pytest.raises(ValueError, match=r"fixed batch of 4 images.*torch\.export\.Dim\(\"batch\"\)"):
        model_spec_load(_spec(tmp_path, programs["batch4"]))


class MakesATensor(torch.nn.Module):
    """Adds a tensor it makes itself: the program records the device it was made on."""

    def forward(self, x):
        return x.mean(dim=(2, 3)) + torch.zeros(3)


def test_the_programs_graph_is_moved_to_the_workers_device(tmp_path):
    """Exported on the CPU, loaded for another device (meta here, CUDA on a GPU worker): every
    tensor the graph makes is made there, which module.to(device) alone would not do."""
    path = tmp_path / "makes.pt2"
    _export(MakesATensor(), 2, True, path)
    cpu_module, _ = model_zoo.build_exported_program(path, SIZE)
    meta_module, _ = model_zoo.build_exported_program(path, SIZE, torch.device("meta"))

    def devices(module):
        return {str(node.kwargs["device"]) for node in module.graph.nodes if "device" in node.kwargs}

    assert devices(cpu_module) == {"cpu"} and devices(meta_module) == {"meta"}
    assert meta_module(torch.zeros(2, 3, SIZE, SIZE, device="meta")).device.type == "meta"


@pytest.fixture
def scripted_bytes(tmp_path, programs):
    path = tmp_path / "scripted.pt"
    with warnings.catch_warnings():  # the test's own use of torch.jit
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(programs["reference"]), str(path))
    return path.read_bytes()


def test_wrong_files_are_named(db, tmp_path, programs, scripted_bytes):
    cases = [
        (b"not a model at all", {}, r"not a program saved by torch\.export\.save \(a \.pt2 archive\)"),
        (
            scripted_bytes,
            {},
            "not a torch.export program but a TorchScript model; use the source 'TorchScript file'",
        ),
        (
            programs["dynamic"],
            {"source": ModelSpec.Source.TORCHSCRIPT},
            r"not a TorchScript model but a program saved by torch\.export\.save; use the source "
            r"'torch\.export program \(\.pt2\)'",
        ),
        (
            programs["dynamic"],
            {"source": ModelSpec.Source.TORCHVISION, "architecture": "resnet18"},
            r"not a state_dict saved by torch\.save but a program saved by torch\.export\.save",
        ),
        (
            programs["dynamic"],
            {"class_names": ["a", "b"]},
            "the model outputs 3 classes but class_names lists 2",
        ),
        (
            programs["dynamic"],
            {"input_size": 32},
            "the program was exported for 16x16 images but input_size is 32",
        ),
    ]
    for number, (content, fields, message) in enumerate(cases):
        spec = _spec(tmp_path, content, file_name=f"case{number}.pt2", name=f"case-{number}", **fields)
        with pytest.raises(ValueError, match=message):
            model_spec_load(spec)


def test_loading_a_torchscript_file_shows_no_deprecation_warning(db, tmp_path, scripted_bytes):
    path = tmp_path / "weights" / "scripted.pt"
    path.write_bytes(scripted_bytes)
    with pytest.warns(FutureWarning, match="deprecated"):  # torch itself warns: the test can fail
        torch.jit.load(str(path))
    spec = _spec(tmp_path, scripted_bytes, file_name="scripted.pt", source=ModelSpec.Source.TORCHSCRIPT)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = model_spec_test_load(spec=spec)
    assert result["classes"] == 3
    shown = [w for w in caught if issubclass(w.category, DeprecationWarning | FutureWarning)]
    assert shown == [], [str(w.message) for w in shown]


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_user("exporter", password="export-pass-123", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="explain", codename__endswith="modelspec")
    )
    client.force_login(user)
    return client


def _add_form(upload, **fields) -> dict:
    return {
        "name": fields.get("name", "uploaded-program"),
        "source": ModelSpec.Source.TORCH_EXPORT,
        "architecture": "",
        "weights_file": upload,
        "input_size": SIZE,
        "mean": "[0.5, 0.5, 0.5]",
        "std": "[0.25, 0.25, 0.25]",
        "class_names": fields.get("class_names", '["gothic", "baroque", "modernist"]'),
    }


def test_the_admin_saves_a_program_that_loads_and_refuses_a_fixed_batch(staff_client, programs):
    add = reverse("admin:explain_modelspec_add")
    page = staff_client.post(add, _add_form(SimpleUploadedFile("fixed.pt2", programs["batch4"])))
    assert page.status_code == 400
    errors = page.context["adminform"].form.non_field_errors()
    assert "The model does not load: the program was exported for a fixed batch of 4" in errors[0]
    assert not ModelSpec.objects.exists()

    page = staff_client.post(add, _add_form(SimpleUploadedFile("styles.pt2", programs["dynamic"])))
    assert page.status_code == 302, page.context["adminform"].form.errors
    spec = ModelSpec.objects.get(name="uploaded-program")
    page = staff_client.post(
        reverse("admin:explain_modelspec_test_load", args=[spec.pk]), {"sample": "chelsea"}
    )
    html = page.content.decode()
    assert page.status_code == 200 and page.context["result"]["classes"] == 3
    assert all(name in html for name in CLASSES)


def test_the_test_load_page_says_a_fixed_batch_of_one_runs_image_by_image(staff_client, programs):
    page = staff_client.post(
        reverse("admin:explain_modelspec_add"),
        _add_form(SimpleUploadedFile("one.pt2", programs["batch1"]), name="one-at-a-time"),
    )
    assert page.status_code == 302, page.context["adminform"].form.errors
    spec = ModelSpec.objects.get(name="one-at-a-time")
    page = staff_client.post(
        reverse("admin:explain_modelspec_test_load", args=[spec.pk]), {"sample": "chelsea"}
    )
    html = page.content.decode()
    assert (
        '<p class="test-load-note">Note: exported for a fixed batch of 1 image: images go through it' in html
    )
    assert "torch.export.Dim(&quot;batch&quot;)" in html

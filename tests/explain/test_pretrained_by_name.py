"""torchvision and timm models with their published weights, by name, through the libraries'
own caches. No network: the caches are seeded in a temporary folder with generated weights
(a randomly initialised model of the architecture) under the exact file names the libraries
look for, so "the loaded weights equal the file's" is checked tensor by tensor."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import safetensors.torch
import timm
import torch
import torchvision
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from explain import pretrained
from explain.models import ModelSpec
from explain.services import model_spec_load

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
TIMM_MODEL = "mobilenetv3_small_100.lamb_in1k"
REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Empty torch and Hugging Face caches of this test only, and no download attempts."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_user("modeller", password="model-pass-123", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="explain", codename__endswith="modelspec")
    )
    client.force_login(user)
    return client


def _torchvision_file(architecture: str) -> str:
    return os.path.basename(torchvision.models.get_model_weights(architecture).DEFAULT.url)


def seed_torchvision(cache: Path, architecture: str, seed: int = 0) -> dict:
    """A random state dict of ``architecture`` saved as torchvision's checkpoint file."""
    torch.manual_seed(seed)
    kwargs = {"aux_logits": True, "init_weights": False} if architecture == "inception_v3" else {}
    state = torchvision.models.get_model(architecture, weights=None, **kwargs).state_dict()
    folder = cache / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / _torchvision_file(architecture))
    return state


def seed_timm(cache: Path, name: str = TIMM_MODEL, seed: int = 0) -> dict:
    """A random state dict saved where huggingface_hub keeps timm/<name>'s model.safetensors:
    hub/models--timm--<name>/snapshots/<revision>/, with refs/main naming the revision."""
    torch.manual_seed(seed)
    state = timm.create_model(name, pretrained=False).state_dict()
    repo = cache / "hf" / "hub" / f"models--timm--{name}"
    (repo / "snapshots" / REVISION).mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REVISION)
    safetensors.torch.save_file(state, repo / "snapshots" / REVISION / "model.safetensors")
    return state


def assert_same_weights(module: torch.nn.Module, expected: dict, skip: str = "") -> None:
    loaded = module.state_dict()
    compared = [key for key in expected if not (skip and key.startswith(skip))]
    assert set(compared) == set(loaded)
    for key in compared:
        assert torch.equal(loaded[key].cpu(), expected[key]), key


def test_inception_v3_by_name_stores_its_299_input_and_loads_the_cached_weights(caches, db):
    expected = seed_torchvision(caches, "inception_v3")
    spec = ModelSpec.objects.create(
        name="inception", source="torchvision", architecture="inception_v3", pretrained_weights="DEFAULT"
    )
    spec.refresh_from_db()
    assert (spec.input_size, spec.interpolation, spec.mean, spec.std) == (
        299,
        "bilinear",
        IMAGENET_MEAN,
        IMAGENET_STD,
    )
    recipe = spec.weights_preprocessing
    assert (recipe["resize_size"], recipe["crop_size"]) == (342, 299)
    assert recipe["weights"] == "Inception_V3_Weights.IMAGENET1K_V1"

    loaded = model_spec_load(spec)
    # The auxiliary classifier is trained with the net but not used for predictions.
    assert_same_weights(loaded.module, expected, skip="AuxLogits.")
    assert loaded.module.transform_input  # torchvision's rescaling for Google's weights, kept
    assert (loaded.input_size, loaded.interpolation) == (299, "bilinear")
    checkpoint = caches / "torch" / "hub" / "checkpoints" / "inception_v3_google-0cc3c7bd.pth"
    import hashlib

    assert (
        spec.__class__.objects.get(pk=spec.pk).weights_sha256
        == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    )


def test_vgg16_by_name(caches):
    """VGG16's 528 MB of generated weights: saved, loaded and compared in full."""
    expected = seed_torchvision(caches, "vgg16")
    module, file = pretrained.build_pretrained("torchvision", "vgg16", "IMAGENET1K_V1", 1000)
    assert file.name == "vgg16-397923af.pth"
    assert_same_weights(module, expected)
    setting = pretrained.pretrained_preprocessing("torchvision", "vgg16", "IMAGENET1K_V1")
    assert (setting.input_size, setting.interpolation) == (224, "bilinear")
    assert setting.weights_preprocessing["resize_size"] == 256


def test_mobilenet_v3_large_through_the_admin_form(caches, staff_client):
    seed_torchvision(caches, "mobilenet_v3_large")
    page = staff_client.post(
        reverse("admin:explain_modelspec_add"),
        {
            "name": "mobilenet",
            "source": "torchvision",
            "architecture": "mobilenet_v3_large",
            "pretrained_weights": "IMAGENET1K_V2",
            "input_size": 64,  # replaced by the weights' own
            "mean": "",
            "std": "",
            "class_names": "[]",
        },
    )
    assert page.status_code == 302, page.context["adminform"].form.errors
    spec = ModelSpec.objects.get(name="mobilenet")
    assert (spec.input_size, spec.interpolation, spec.mean, spec.std) == (
        224,
        "bilinear",
        IMAGENET_MEAN,
        IMAGENET_STD,
    )
    assert (spec.weights_preprocessing["resize_size"], spec.weights_preprocessing["crop_size"]) == (232, 224)
    assert spec.preprocessing()["resize"].startswith("whole image")
    assert len(spec.weights_sha256) == 64  # the form loaded it: a sha256 of the cached file
    page = staff_client.get(reverse("admin:explain_modelspec_change", args=[spec.pk]))
    assert b"whole image resized to input_size x input_size, no crop" in page.content
    assert b"MobileNet_V3_Large_Weights.IMAGENET1K_V2" in page.content


def test_a_timm_model_by_name_from_the_hugging_face_cache(caches, db):
    expected = seed_timm(caches)
    spec = ModelSpec.objects.create(
        name="mnv3-small", source="timm", architecture="mobilenetv3_small_100", pretrained_weights="lamb_in1k"
    )
    assert (spec.input_size, spec.interpolation, spec.mean) == (224, "bicubic", IMAGENET_MEAN)
    assert spec.weights_preprocessing["weights"] == TIMM_MODEL
    assert spec.weights_preprocessing["crop_pct"] == 0.875
    loaded = model_spec_load(spec)
    assert_same_weights(loaded.module, expected)
    # The same weights named the other way: the tag in the architecture, DEFAULT as weights.
    module, file = pretrained.build_pretrained("timm", TIMM_MODEL, "DEFAULT", 1000)
    assert (
        file
        == caches
        / "hf"
        / "hub"
        / f"models--timm--{TIMM_MODEL}"
        / "snapshots"
        / REVISION
        / "model.safetensors"
    )
    assert_same_weights(module, expected)


def test_the_seeded_caches_are_what_the_libraries_themselves_read_offline(caches):
    """torchvision's and timm's own pretrained loading, in a fresh process with the caches
    and HF_HUB_OFFLINE set from the start, finds the same files and the same weights."""
    torch_state = seed_torchvision(caches, "mobilenet_v3_large", seed=1)
    timm_state = seed_timm(caches, seed=2)
    script = (
        "import json, sys, timm, torch, torchvision\n"
        "a = torchvision.models.mobilenet_v3_large(weights='DEFAULT').state_dict()\n"
        f"b = timm.create_model('{TIMM_MODEL}', pretrained=True).state_dict()\n"
        "torch.save({'a': a, 'b': b}, sys.argv[1])\n"
    )
    out = caches / "states.pt"
    env = {
        **os.environ,
        "TORCH_HOME": str(caches / "torch"),
        "HF_HOME": str(caches / "hf"),
        "HF_HUB_OFFLINE": "1",
    }
    subprocess.run([sys.executable, "-c", script, str(out)], env=env, check=True, timeout=300)
    states = torch.load(out, weights_only=True)
    for key, tensor in torch_state.items():
        assert torch.equal(states["a"][key], tensor), key
    for key, tensor in timm_state.items():
        assert torch.equal(states["b"][key], tensor), key


def test_a_missing_torchvision_file_names_the_file_and_the_cache(caches):
    file = _torchvision_file("mobilenet_v3_large")
    with pytest.raises(ValueError) as error:
        pretrained.build_pretrained("torchvision", "mobilenet_v3_large", "DEFAULT", 1000)
    message = str(error.value)
    assert (
        f"the weights file {file} is not in the cache {caches / 'torch' / 'hub' / 'checkpoints'}" in message
    )
    assert str(caches / "torch" / "hub" / "checkpoints" / file) in message and "TORCH_HOME" in message


def test_a_missing_timm_file_names_the_file_and_the_cache(caches):
    with pytest.raises(ValueError) as error:
        pretrained.build_pretrained("timm", TIMM_MODEL, "", 1000)
    message = str(error.value)
    folder = caches / "hf" / "hub" / f"models--timm--{TIMM_MODEL}"
    assert "the weights file model.safetensors is not in the cache" in message
    assert str(folder / "snapshots") in message and "HF_HOME" in message


def test_a_failed_download_fails_fast_and_says_why(caches, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    started = time.perf_counter()
    with pytest.raises(ValueError) as error:  # nothing listens on port 9 here: refused at once
        pretrained.cached_or_downloaded("http://127.0.0.1:9/models/resnet18-f37072fd.pth")
    assert time.perf_counter() - started < pretrained.DOWNLOAD_TIMEOUT_S
    message = str(error.value)
    assert "resnet18-f37072fd.pth is not in the cache" in message and "could not be downloaded" in message
    assert not list((caches / "torch" / "hub" / "checkpoints").glob("*"))


def test_a_download_lands_in_the_cache_only_when_its_hash_matches_its_name(caches, tmp_path):
    import hashlib

    source = tmp_path / "weights.bin"
    source.write_bytes(b"some weights")
    prefix = hashlib.sha256(b"some weights").hexdigest()[:8]
    folder = caches / "torch" / "hub" / "checkpoints"
    good = pretrained.download_checkpoint(source.as_uri(), folder / f"net-{prefix}.pth")
    assert good.read_bytes() == b"some weights"
    with pytest.raises(ValueError, match="sha256 does not start with 00000000"):
        pretrained.download_checkpoint(source.as_uri(), folder / "net-00000000.pth")
    assert sorted(path.name for path in folder.iterdir()) == [f"net-{prefix}.pth"]


@pytest.mark.parametrize(
    ("source", "architecture", "weights", "expected"),
    [
        (
            "torchvision",
            "resnet18",
            "IMAGENET1K_V9",
            "resnet18 has no weights 'IMAGENET1K_V9'; known: DEFAULT, IMAGENET1K_V1",
        ),
        ("torchvision", "resnet_19", "DEFAULT", "torchvision has no architecture 'resnet_19'"),
        (
            "timm",
            "resnet18",
            "nope_in1k",
            "timm has no pretrained weights 'resnet18.nope_in1k'; known: resnet18.a1_in1k",
        ),
        ("torchscript", "", "DEFAULT", "pretrained weights by name need the source torchvision or timm"),
    ],
)
def test_unknown_names_are_explained(source, architecture, weights, expected):
    with pytest.raises(ValueError) as error:
        pretrained.pretrained_preprocessing(source, architecture, weights)
    assert str(error.value).startswith(expected)


def test_exports_can_state_the_preprocessing(db):
    spec = ModelSpec.objects.create(
        name="m", source="torchvision", architecture="mobilenet_v3_large", pretrained_weights="DEFAULT"
    )
    stated = json.loads(json.dumps(spec.preprocessing()))
    assert stated["mean"] == IMAGENET_MEAN and stated["interpolation"] == "bilinear"
    assert stated["weights_preprocessing"]["weights"] == "MobileNet_V3_Large_Weights.IMAGENET1K_V2"

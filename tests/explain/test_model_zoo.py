import numpy as np
import pytest
import torch
import torchvision
from PIL import Image as PILImage

from catalogue.demo_data import demo_image_path
from explain import model_zoo
from explain.models import ModelSpec
from explain.services import model_spec_load


@pytest.fixture(scope="module")
def lite0():
    return model_zoo.LoadedModel(
        module=model_zoo.build_efficientnet_lite0(),
        input_size=224,
        mean=model_zoo.LITE0_MEAN,
        std=model_zoo.LITE0_STD,
        class_names=model_zoo.imagenet_class_names(),
        weights_sha256="",
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [("skimage:chelsea.png", {"Egyptian cat", "tabby", "tiger cat"}), ("skimage:coffee.png", {"espresso"})],
)
def test_the_default_model_recognises_the_sample_images(lite0, source, expected):
    picture = PILImage.open(demo_image_path(source))
    top1 = lite0.top_k(lite0.preprocess(picture)[None], k=1)[0][0]
    assert top1["name"] in expected
    assert top1["probability"] > 0.5


def test_the_imagenet_class_names_are_available_offline():
    names = model_zoo.imagenet_class_names()
    assert len(names) == 1000 and names[285] == "Egyptian cat" and names[967] == "espresso"


def test_a_torchvision_architecture_loads_from_a_weights_file(db, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(num_classes=3).eval()
    weights = tmp_path / "weights" / "resnet18.pt"
    weights.parent.mkdir()
    torch.save(reference.state_dict(), weights)
    spec = ModelSpec.objects.create(
        name="tiny-resnet",
        source=ModelSpec.Source.TORCHVISION,
        architecture="resnet18",
        weights_file="weights/resnet18.pt",
        class_names=["a", "b", "c"],
    )
    loaded = model_spec_load(spec)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        np.testing.assert_allclose(loaded.module(x).cpu().numpy(), reference(x).numpy(), rtol=1e-5, atol=1e-5)
    spec.refresh_from_db()
    assert spec.weights_sha256 == model_zoo.file_sha256(weights)
    assert loaded.class_names == ("a", "b", "c")


def test_an_unknown_architecture_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no architecture 'resnet9000'"):
        model_zoo.build_torchvision("resnet9000", tmp_path / "missing.pt", 10)

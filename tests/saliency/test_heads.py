"""Multi-head models: every method explains the head it is given (explain.saliency.heads).

The model here has two heads that see disjoint halves of the image: "style" only the left
half, "place" only the right half (a 1x1 convolution, so no pixel mixes with its
neighbours). A correct map of a head therefore has no mass at all on the half that head
cannot see, and its mass on the other half is the whole map."""

import numpy as np
import pytest
import torch

from explain import saliency
from explain.saliency.heads import head_names, pick_head, select_head

SIZE = 16
HALF = SIZE // 2


class LeftRightHeads(torch.nn.Module):
    def __init__(self, output: str = "dict"):
        super().__init__()
        self.output = output
        self.features = torch.nn.Conv2d(3, 4, 1)
        self.style = torch.nn.Linear(4 * SIZE * HALF, 3)  # left half
        self.place = torch.nn.Linear(4 * SIZE * HALF, 2)  # right half

    def forward(self, images):
        features = torch.tanh(self.features(images))
        style = self.style(features[..., :HALF].flatten(1))
        place = self.place(features[..., HALF:].flatten(1))
        if self.output == "dict":
            return {"style": style, "place": place}
        return (style, place)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return LeftRightHeads().eval()


@pytest.fixture
def images():
    torch.manual_seed(1)
    return torch.randn(3, 3, SIZE, SIZE)


def _right_share(maps: np.ndarray) -> np.ndarray:
    """Per map, the share of its (absolute) mass on the right half."""
    mass = np.abs(maps)
    return mass[..., HALF:].sum(axis=(1, 2)) / mass.sum(axis=(1, 2))


@pytest.mark.parametrize("method", ["vanilla_gradient", "integrated_gradients", "smoothgrad"])
def test_each_heads_map_lies_on_the_half_that_head_sees(model, images, method):
    style = saliency.compute(method, model, images, [0, 1, 2], head="style")
    place = saliency.compute(method, model, images, [0, 1, 0], head="place")
    assert (np.abs(style).sum(axis=(1, 2)) > 0).all() and (np.abs(place).sum(axis=(1, 2)) > 0).all()
    # Exactly zero on the unseen half: not a small share, none.
    assert (style[..., HALF:] == 0).all() and (place[..., :HALF] == 0).all()
    np.testing.assert_array_equal(_right_share(style), 0.0)
    np.testing.assert_allclose(_right_share(place), 1.0, rtol=1e-6)  # float32 sums


def test_a_head_by_name_by_position_and_through_select_head_give_the_same_maps(model, images):
    as_tuple = LeftRightHeads(output="tuple").eval()
    as_tuple.load_state_dict(model.state_dict())
    by_name = saliency.compute("vanilla_gradient", model, images, 1, head="place")
    by_position = saliency.compute("vanilla_gradient", as_tuple, images, 1, head=1)
    by_dict_position = saliency.compute("vanilla_gradient", model, images, 1, head=-1)
    wrapped = saliency.vanilla_gradient(select_head(model, "place"), images, 1)
    for maps in (by_position, by_dict_position, wrapped):
        np.testing.assert_array_equal(maps, by_name)
    # The same map by hand: max over channels of |d place[1] / d image|.
    inputs = images.clone().requires_grad_(True)
    model(inputs)["place"][:, 1].sum().backward()
    np.testing.assert_allclose(by_name, inputs.grad.abs().amax(dim=1).numpy(), rtol=1e-6)


def test_the_target_counts_the_heads_own_classes(model, images):
    """Class 2 exists in "style" (3 classes), not in "place" (2 classes)."""
    assert saliency.compute("vanilla_gradient", model, images[:1], 2, head="style").shape == (1, SIZE, SIZE)
    with pytest.raises(RuntimeError, match="index 2 is out of bounds for dimension 1 with size 2"):
        saliency.compute("vanilla_gradient", model, images[:1], 2, head="place")


def test_layer_methods_find_the_models_layers_through_the_wrapper(model, images):
    style = saliency.compute("grad_cam", model, images, 0, head="style")
    place = saliency.compute("grad_cam", model, images, 0, head="place")
    assert saliency.find_last_conv_layer(select_head(model, "style"), (3, SIZE, SIZE)) == "model.features"
    assert style.shape == place.shape == (3, SIZE, SIZE)
    assert not np.allclose(style, place)


def test_compute_for_targets_takes_a_head(model, images):
    maps = saliency.compute_for_targets("vanilla_gradient", model, images[0], [0, 1], head="place")
    assert maps.shape == (2, SIZE, SIZE) and (maps[:, :, :HALF] == 0).all()


def test_a_one_tensor_model_is_head_0(images):
    torch.manual_seed(2)
    plain = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.Flatten(), torch.nn.LazyLinear(4)).eval()
    plain(images)  # materialise the lazy layer
    np.testing.assert_array_equal(
        saliency.compute("vanilla_gradient", plain, images, 3, head=0),
        saliency.compute("vanilla_gradient", plain, images, 3),
    )


def test_wrong_heads_are_named_with_the_heads_there_are(model, images):
    output = model(images)
    assert head_names(output) == ["style", "place"]
    assert head_names((output["style"], output["place"])) == [0, 1]
    with pytest.raises(ValueError, match=r"no head 'colour'; its heads: 'style', 'place'"):
        saliency.compute("vanilla_gradient", model, images, 0, head="colour")
    with pytest.raises(ValueError, match=r"has 2 head\(s\) \(positions 0-1\), no head 2"):
        pick_head(output, 2)
    with pytest.raises(ValueError, match=r"no head 'style'; its heads: 0, 1"):
        pick_head((output["style"], output["place"]), "style")
    with pytest.raises(ValueError, match=r"head 'maps' gives \(3, 5, 5\), not logits"):
        pick_head({"maps": torch.zeros(3, 5, 5)}, "maps")
    with pytest.raises(ValueError, match="a head is a name or a position"):
        pick_head(output, True)


def test_select_head_keeps_the_models_mode(model):
    assert not select_head(model, "style").training
    assert select_head(model.train(), "style").training

"""The engine's guarantees on the architectures the seed studies compare, at their own input
sizes: Inception-v3 (299x299) and VGG16 (224x224), with random weights (no download here).
IG and XRAI equal PAIR-code/saliency 0.2.1's, and IG's completeness figure is what it says:
|sum(attribution) - (f(x) - f(baseline))| / |f(x) - f(baseline)|, shrinking as the rule gets
more points. Few path points keep this affordable on a CPU: parity does not depend on them."""

import numpy as np
import pytest
import torch
import torchvision
from saliency.core import xrai as pair_xrai
from saliency.core.integrated_gradients import IntegratedGradients as PairIntegratedGradients

from explain import saliency
from explain.saliency.integrated_gradients import integrated_gradients_attributions
from tests.saliency.helpers import pair_call_model_function, sample_image

TARGET = 7


def inception_v3():
    torch.manual_seed(0)
    return torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=True).eval(), 299


def vgg16():
    torch.manual_seed(0)
    return torchvision.models.vgg16(weights=None).eval(), 224


@pytest.fixture(scope="module", params=[inception_v3, vgg16], ids=["inception_v3", "vgg16"])
def model_and_image(request):
    model, size = request.param()
    for parameter in model.parameters():
        parameter.requires_grad_(False)  # gradients with respect to the input only
    return model, sample_image(size=size)


def test_integrated_gradients_equals_pairs(model_and_image):
    """Equal up to the rounding of the path points. PAIR forms them in float64 (linspace
    alphas) before the float32 model, this engine in float32; these ReLU networks at random
    initialisation turn such 1-ulp input differences into about 1 % of the attribution (the
    image moved up by one ulp changes VGG16's IG by 1.3 % in relative L2, measured), while the
    smooth tiny CNN of test_integrated_gradients agrees to 1e-4."""
    model, image = model_and_image
    ours, _ = integrated_gradients_attributions(model, image[None], TARGET, steps=6, batch_size=6)
    expected = PairIntegratedGradients().GetMask(
        image.transpose(1, 2, 0), pair_call_model_function(model, TARGET), x_steps=6, batch_size=6
    )
    ours = ours[0].transpose(1, 2, 0)
    # measured: relative L2 0.016 (VGG16) and 0.007 (Inception-v3), correlation 0.99988 / 0.99997
    assert np.linalg.norm(ours - expected) / np.linalg.norm(expected) < 0.05
    assert np.corrcoef(ours.ravel(), expected.ravel())[0, 1] >= 0.999


def test_the_completeness_gap_is_the_attribution_sums_distance_from_the_output_difference(model_and_image):
    model, image = model_and_image
    x = torch.tensor(image[None])
    with torch.no_grad():
        difference = float(model(x)[0, TARGET] - model(torch.zeros_like(x))[0, TARGET])
    for steps in (8,):
        attributions, details = integrated_gradients_attributions(
            model, x, TARGET, steps=steps, rule="gauss_legendre", batch_size=8
        )
        expected_gap = abs(float(attributions.astype(np.float64).sum()) - difference) / abs(difference)
        assert details[0]["output_difference"] == pytest.approx(difference, rel=1e-4)
        assert details[0]["completeness_gap"] == pytest.approx(
            expected_gap, rel=1e-3, abs=2e-5
        )  # float32 sums


def test_xrai_equals_pairs(model_and_image):
    model, image = model_and_image
    expected = pair_xrai.XRAI().GetMask(
        image.transpose(1, 2, 0),
        pair_call_model_function(model, TARGET),
        batch_size=4,
        extra_parameters=pair_xrai.XRAIParameters(steps=4),
    )
    ours = saliency.xrai(model, image[None], [TARGET], steps=4, batch_size=4)[0]
    assert ours.shape == image.shape[1:]
    assert np.corrcoef(ours.ravel(), expected.ravel())[0, 1] >= 0.999

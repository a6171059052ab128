"""Vanilla gradient, gradient x input, SmoothGrad, Grad-CAM and occlusion against PAIR-code/saliency,
Captum and hand-computed cases."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from captum.attr import InputXGradient, LayerAttribution, LayerGradCam, NoiseTunnel, Saliency
from captum.attr import Occlusion as CaptumOcclusion
from saliency.core.base import CONVOLUTION_LAYER_VALUES, CONVOLUTION_OUTPUT_GRADIENTS, OUTPUT_LAYER_VALUES
from saliency.core.grad_cam import GradCam as PairGradCam
from saliency.core.gradients import GradientSaliency
from saliency.core.integrated_gradients import IntegratedGradients as PairIntegratedGradients
from saliency.core.occlusion import Occlusion as PairOcclusion

from explain.saliency.grad_cam import find_last_conv_layer, grad_cam, grad_cam_result
from explain.saliency.gradient_x_input import gradient_x_input, gradient_x_input_attributions
from explain.saliency.occlusion import occlusion, occlusion_result, window_starts
from explain.saliency.smoothgrad import smoothgrad, smoothgrad_attributions, smoothgrad_noise
from explain.saliency.vanilla_gradient import vanilla_gradient, vanilla_gradient_attributions
from tests.saliency.helpers import pair_call_model_function, tiny_cnn

TARGETS = [3, 1]
# Targets whose Grad-CAM on the tiny CNN is partly positive, partly clipped by the ReLU.
CAM_TARGETS = [4, 4]


@pytest.fixture(scope="module")
def model():
    return tiny_cnn(seed=2)


@pytest.fixture(scope="module")
def images():
    return torch.tensor(np.random.default_rng(5).normal(size=(2, 3, 32, 32)), dtype=torch.float32)


def hwc(image: torch.Tensor) -> np.ndarray:
    return image.numpy().transpose(1, 2, 0)


def linear_model(shape=(3, 8, 8), classes: int = 2, seed: int = 0):
    """f(x) = W x + b on the flattened image, and W reshaped to (classes, *shape)."""
    torch.manual_seed(seed)
    linear = torch.nn.Linear(int(np.prod(shape)), classes)
    model = torch.nn.Sequential(torch.nn.Flatten(), linear).eval()
    return model, linear.weight.detach().reshape(classes, *shape).numpy()


# --- vanilla gradient and gradient x input -------------------------------------------------


def test_vanilla_gradient_equals_pairs_and_captums(model, images):
    ours, _ = vanilla_gradient_attributions(model, images, TARGETS, batch_size=1)
    for i, target in enumerate(TARGETS):
        pair = GradientSaliency().GetMask(hwc(images[i]), pair_call_model_function(model, target))
        np.testing.assert_allclose(ours[i].transpose(1, 2, 0), pair, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(
            vanilla_gradient(model, images[i : i + 1], target)[0],
            np.abs(pair).max(axis=2),
            rtol=1e-5,
            atol=1e-7,
        )
        np.testing.assert_allclose(
            vanilla_gradient(model, images[i : i + 1], target, channel_reduction="abs_sum")[0],
            np.abs(pair).sum(axis=2),  # PAIR's VisualizeImageGrayscale before its display clip
            rtol=1e-5,
            atol=1e-7,
        )
    captum = (
        Saliency(model).attribute(images.clone().requires_grad_(), target=TARGETS, abs=True).max(dim=1).values
    )
    maps = vanilla_gradient(model, images, TARGETS)
    np.testing.assert_allclose(maps, captum.numpy(), rtol=1e-5, atol=1e-7)
    assert maps.shape == (2, 32, 32) and maps.dtype == np.float32


def test_gradient_x_input_equals_captums(model, images):
    captum = InputXGradient(model).attribute(images.clone().requires_grad_(), target=TARGETS).detach()
    ours, _ = gradient_x_input_attributions(model, images, TARGETS, batch_size=1)
    np.testing.assert_allclose(ours, captum.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        gradient_x_input(model, images, TARGETS), captum.abs().sum(dim=1).numpy(), rtol=1e-5, atol=1e-7
    )


def test_gradients_of_a_linear_model_are_its_weights():
    net, weights = linear_model()
    x = torch.randn(2, 3, 8, 8)
    np.testing.assert_allclose(vanilla_gradient(net, x, 1), np.abs(weights[1]).max(axis=0)[None].repeat(2, 0))
    np.testing.assert_allclose(
        vanilla_gradient(net, x, 1, channel_reduction="sum"),
        weights[1].sum(axis=0)[None].repeat(2, 0),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        gradient_x_input_attributions(net, x, 0).values, weights[0] * x.numpy(), rtol=1e-6
    )
    # For a linear model with zero bias, grad x input sums to the logit (completeness).
    with torch.no_grad():
        net[1].bias.zero_()
    logits = net(x)[:, 0].detach().numpy()
    totals = gradient_x_input(net, x, 0, channel_reduction="sum").sum(axis=(1, 2))
    np.testing.assert_allclose(totals, logits, rtol=1e-4, atol=1e-5)


# --- SmoothGrad --------------------------------------------------------------------------


def pair_noise_from(noise: torch.Tensor):
    """A stand-in for np.random.normal that hands PAIR our noise, sample after sample."""
    samples = iter(noise)

    def normal(loc, scale, size):
        assert loc == 0
        z = next(samples).numpy().transpose(1, 2, 0).astype(np.float64)
        assert z.shape == tuple(size)
        return scale * z

    return normal


@pytest.mark.parametrize("base_method", ["vanilla_gradient", "integrated_gradients"])
def test_smoothgrad_equals_pairs_smoothed_mask_given_the_same_noise(model, images, base_method, monkeypatch):
    nsamples, steps = 5, 4
    base_params = {"steps": steps} if base_method == "integrated_gradients" else None
    ours, details = smoothgrad_attributions(
        model, images, TARGETS, base_method=base_method, nsamples=nsamples, seed=7, base_params=base_params
    )
    for i, target in enumerate(TARGETS):
        monkeypatch.setattr(np.random, "normal", pair_noise_from(smoothgrad_noise((3, 32, 32), nsamples, 7)))
        call = pair_call_model_function(model, target)
        x = hwc(images[i])
        if base_method == "vanilla_gradient":
            pair = GradientSaliency().GetSmoothedMask(
                x, call, stdev_spread=0.15, nsamples=nsamples, magnitude=True
            )
        else:
            pair = PairIntegratedGradients().GetSmoothedMask(
                x, call, stdev_spread=0.15, nsamples=nsamples, magnitude=True, x_steps=steps, batch_size=steps
            )
        np.testing.assert_allclose(ours[i].transpose(1, 2, 0), pair, rtol=1e-4, atol=1e-7)
        assert details[i]["stdev"] == pytest.approx(0.15 * float(x.max() - x.min()), rel=1e-6)
    if base_method == "integrated_gradients":
        assert all(detail["completeness_gap_mean"] >= 0 for detail in details)


@pytest.mark.parametrize(
    "base_method, captum_method", [("vanilla_gradient", Saliency), ("gradient_x_input", InputXGradient)]
)
@pytest.mark.parametrize("magnitude, nt_type", [(True, "smoothgrad_sq"), (False, "smoothgrad")])
def test_smoothgrad_equals_captums_noise_tunnel_given_the_same_seed(
    model, images, base_method, captum_method, magnitude, nt_type
):
    ours, details = smoothgrad_attributions(
        model, images, TARGETS, base_method=base_method, nsamples=6, magnitude=magnitude, seed=11
    )
    tunnel = NoiseTunnel(captum_method(model))
    for i, target in enumerate(TARGETS):
        torch.manual_seed(11)  # Captum draws its noise from torch's global generator
        kwargs = {"abs": False} if captum_method is Saliency else {}
        captum = tunnel.attribute(
            images[i : i + 1],
            nt_type=nt_type,
            nt_samples=6,
            stdevs=details[i]["stdev"],
            target=target,
            **kwargs,
        )
        np.testing.assert_allclose(ours[i], captum[0].detach().numpy(), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("base_method", ["vanilla_gradient", "gradient_x_input", "integrated_gradients"])
def test_smoothgrad_does_not_depend_on_batch_size_or_on_the_other_images(model, images, base_method):
    base_params = {"steps": 3} if base_method == "integrated_gradients" else None
    kwargs = {"base_method": base_method, "nsamples": 4, "base_params": base_params}
    small = smoothgrad(model, images, TARGETS, batch_size=3, **kwargs)
    large = smoothgrad(model, images, TARGETS, batch_size=64, **kwargs)
    alone = smoothgrad(model, images[1:], TARGETS[1], batch_size=5, **kwargs)
    np.testing.assert_allclose(small, large, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(alone[0], small[1], rtol=1e-5, atol=1e-8)
    assert small.shape == (2, 32, 32) and small.dtype == np.float32
    other_seed = smoothgrad(model, images, TARGETS, batch_size=64, seed=1, **kwargs)
    assert not np.allclose(other_seed, large)


def test_smoothgrad_of_a_linear_model_is_the_squared_weights():
    # The gradient does not depend on the noise, so the mean square is w^2 whatever the noise.
    net, weights = linear_model()
    x = torch.randn(1, 3, 8, 8)
    maps = smoothgrad(net, x, 1, nsamples=3)
    np.testing.assert_allclose(maps[0], (weights[1] ** 2).sum(axis=0), rtol=1e-5)


# --- Grad-CAM ----------------------------------------------------------------------------


@pytest.mark.parametrize("layer", ["2", "3"])
def test_grad_cam_equals_captums_layer_grad_cam(model, images, layer):
    module = dict(model.named_modules())[layer]
    cam = LayerGradCam(model, module).attribute(images, target=CAM_TARGETS, relu_attributions=True)
    expected = LayerAttribution.interpolate(cam, (32, 32), interpolate_mode="bilinear")[:, 0]
    result = grad_cam_result(model, images, CAM_TARGETS, layer=layer, batch_size=1)
    np.testing.assert_allclose(result.maps, expected.detach().numpy(), rtol=1e-5, atol=1e-7)
    assert result.details[0] == {"layer": layer, "layer_shape": [8, 16, 16]}
    assert (result.maps > 0).any() and (result.maps == 0).any()
    # Captum's own defaults: no ReLU, nearest-neighbour upsampling.
    raw = LayerAttribution.interpolate(
        LayerGradCam(model, module).attribute(images, target=CAM_TARGETS), (32, 32)
    )
    np.testing.assert_allclose(
        grad_cam(model, images, CAM_TARGETS, layer=layer, relu=False, interpolation="nearest"),
        raw[:, 0].detach().numpy(),
        rtol=1e-5,
        atol=1e-7,
    )


def test_grad_cam_is_pairs_up_to_its_max_scaling_and_border_resampling(model, images):
    layer = dict(model.named_modules())["3"]
    x = images[:1]
    captured = {}
    handle = layer.register_forward_hook(lambda module, inputs, output: captured.update(value=output))

    def call(x_batch, call_model_args=None, expected_keys=None):
        batch = torch.tensor(np.asarray(x_batch), dtype=torch.float32).permute(0, 3, 1, 2)
        logit = model(batch)[:, CAM_TARGETS[0]].sum()
        (gradient,) = torch.autograd.grad(logit, captured["value"])
        return {
            CONVOLUTION_LAYER_VALUES: captured["value"].detach().permute(0, 2, 3, 1).numpy(),
            CONVOLUTION_OUTPUT_GRADIENTS: gradient.permute(0, 2, 3, 1).numpy(),
        }

    try:
        pair = PairGradCam().GetMask(hwc(x[0]), call, three_dims=False)
    finally:
        handle.remove()
    ours = grad_cam(model, x, CAM_TARGETS[0], layer="3")[0]
    # 16x16 -> 32x32: skimage mirrors and torch clamps within 1 px of the border; PAIR divides by the max.
    inner_pair, inner_ours = pair[1:-1, 1:-1], ours[1:-1, 1:-1]
    scale = (inner_pair * inner_ours).sum() / (inner_ours * inner_ours).sum()
    np.testing.assert_allclose(inner_pair, inner_ours * scale, rtol=1e-4, atol=1e-6)
    assert pair.max() <= 1 and not np.allclose(pair[0], ours[0] * scale, rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def resnet18():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


def test_the_default_layer_of_a_resnet_is_its_last_block_and_matches_captum(resnet18):
    # "layer4" (the last block's output, after the skip connection and ReLU); the global
    # average pool after it is 1x1 and skipped.
    assert find_last_conv_layer(resnet18, (3, 64, 64)) == "layer4"
    x = torch.randn(2, 3, 64, 64)
    result = grad_cam_result(resnet18, x, [7, 300])
    assert result.details[0] == {"layer": "layer4", "layer_shape": [512, 2, 2]}
    cam = LayerGradCam(resnet18, resnet18.layer4).attribute(x, target=[7, 300], relu_attributions=True)
    expected = LayerAttribution.interpolate(cam, (64, 64), interpolate_mode="bilinear")[:, 0]
    np.testing.assert_allclose(result.maps, expected.detach().numpy(), rtol=1e-4, atol=1e-6)
    assert (result.maps > 0).any()
    # On an input so small that layer4 is 1x1, the last layer with a spatial map is layer3.
    assert find_last_conv_layer(resnet18, (1, 3, 32, 32)) == "layer3"


def cam_model(inplace: bool) -> torch.nn.Module:
    torch.manual_seed(3)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, stride=2, padding=1),
        torch.nn.ReLU(inplace=inplace),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 3),
    ).eval()


def test_grad_cam_on_conv_relu_gap_linear_is_the_hand_computed_cam():
    # logit_c = sum_k v_ck mean(A_k), so the weights are v_ck / (h w) and the cam is
    # ReLU(sum_k v_ck A_k / (h w)) with A the ReLU's output, (4,4) for an (8,8) input.
    net = cam_model(inplace=False)
    x = torch.randn(2, 3, 8, 8)
    activations = net[1](net[0](x)).detach()
    v = net[4].weight.detach()
    hand = F.relu(torch.einsum("k,nkhw->nhw", v[2], activations) / 16)
    assert (hand > 0).any() and (hand == 0).any()
    np.testing.assert_allclose(
        grad_cam(net, x, 2, layer="1", interpolation="nearest"),
        hand.repeat_interleave(2, 1).repeat_interleave(2, 2).numpy(),
        rtol=1e-5,
        atol=1e-7,
    )
    upsampled = F.interpolate(hand[:, None], size=(8, 8), mode="bilinear", align_corners=False)[:, 0]
    np.testing.assert_allclose(grad_cam(net, x, 2, layer="1"), upsampled.numpy(), rtol=1e-5, atol=1e-7)
    # The found layer is the ReLU: the pool after it is 1x1.
    assert find_last_conv_layer(net, (3, 8, 8)) == "1"


def test_grad_cam_on_a_layer_followed_by_an_inplace_op_reads_the_layers_own_output():
    x = torch.randn(2, 3, 8, 8)
    inplace = grad_cam(cam_model(inplace=True), x, 1, layer="0", relu=False)
    separate = grad_cam(cam_model(inplace=False), x, 1, layer="0", relu=False)
    np.testing.assert_allclose(inplace, separate, rtol=1e-6, atol=1e-8)


def test_grad_cam_batch_size_does_not_change_the_result(model, images):
    np.testing.assert_allclose(
        grad_cam(model, images, CAM_TARGETS, batch_size=1),
        grad_cam(model, images, CAM_TARGETS, batch_size=64),
        rtol=1e-6,
    )


# --- occlusion ---------------------------------------------------------------------------


def pair_output_function(model: torch.nn.Module, target: int):
    """PAIR's interface for occlusion: (B,H,W,C) numpy in, the target logit out."""

    def call(x_batch, call_model_args=None, expected_keys=None):
        x = torch.tensor(np.asarray(x_batch), dtype=torch.float32).permute(0, 3, 1, 2)
        with torch.no_grad():
            return {OUTPUT_LAYER_VALUES: model(x)[:, target].numpy()}

    return call


@pytest.mark.parametrize("stride", [1, 4])
def test_occlusion_equals_captums(model, images, stride):
    captum = CaptumOcclusion(model).attribute(
        images,
        sliding_window_shapes=(3, 15, 15),
        strides=(3, stride, stride),
        baselines=0,
        target=TARGETS,
        perturbations_per_eval=64,
    )
    # Captum's attribution is the same on every channel.
    np.testing.assert_allclose(captum[:, 0], captum[:, 2])
    result = occlusion_result(model, images, TARGETS, stride=stride, batch_size=7)
    np.testing.assert_allclose(result.maps, captum[:, 0].numpy(), rtol=1e-4, atol=1e-6)
    assert result.details[0]["windows"] == len(window_starts(32, 15, stride)) ** 2


def test_occlusion_summed_at_stride_one_equals_pairs_mask(model, images):
    ours = occlusion(model, images[:1], TARGETS[0], stride=1, aggregation="sum")
    pair = PairOcclusion().GetMask(hwc(images[0]), pair_output_function(model, TARGETS[0]), size=15, value=0)
    np.testing.assert_allclose(ours[0], pair[:, :, 0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(pair[:, :, 0], pair[:, :, 2])
    # PAIR's sum = the mean times the number of windows covering the pixel (225 inside, 1 at corners).
    counts_1d = np.array([min(r, 32 - 15) - max(0, r - 14) + 1 for r in range(32)])
    mean = occlusion(model, images[:1], TARGETS[0], stride=1)
    np.testing.assert_allclose(ours[0], mean[0] * np.outer(counts_1d, counts_1d), rtol=1e-4, atol=1e-5)


def test_occlusion_of_a_linear_model_is_the_mean_of_the_patch_sums():
    net, weights = linear_model(shape=(3, 11, 11))
    x = torch.randn(1, 3, 11, 11)
    contribution = (weights[0] * x[0].numpy()).sum(axis=0)  # w.x per pixel, baseline 0
    patch, stride = 4, 3  # windows start at 0, 3, 6, 9; the last one is cut off at the edge
    assert window_starts(11, patch, stride) == [0, 3, 6, 9]
    total, count = np.zeros((11, 11)), np.zeros((11, 11))
    for top in window_starts(11, patch, stride):
        for left in window_starts(11, patch, stride):
            window = np.s_[top : top + patch, left : left + patch]
            total[window] += contribution[window].sum()
            count[window] += 1
    maps = occlusion(net, x, 0, patch_size=patch, stride=stride)
    np.testing.assert_allclose(maps[0], total / count, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        occlusion(net, x, 0, patch_size=patch, stride=stride, aggregation="sum")[0],
        total,
        rtol=1e-4,
        atol=1e-5,
    )


def test_occlusion_batch_size_does_not_change_the_result(model, images):
    np.testing.assert_allclose(
        occlusion(model, images, TARGETS, stride=3, batch_size=5),
        occlusion(model, images, TARGETS, stride=3, batch_size=200),
        rtol=1e-5,
        atol=1e-7,
    )


# --- parameters --------------------------------------------------------------------------


def test_bad_parameters_are_rejected_with_clear_messages(model, images):
    with pytest.raises(ValueError, match="unknown layer 'layer9'"):
        grad_cam(model, images, 0, layer="layer9")
    with pytest.raises(ValueError, match="must output a 4-D tensor"):
        grad_cam(model, images, 0, layer="5")  # the Flatten
    with pytest.raises(ValueError, match="unknown interpolation"):
        grad_cam(model, images, 0, interpolation="area")
    with pytest.raises(ValueError, match="no module of this model outputs a 4-D feature map"):
        find_last_conv_layer(linear_model()[0], (3, 8, 8))
    with pytest.raises(ValueError, match="patch_size must be between 1 and the image size 32"):
        occlusion(model, images, 0, patch_size=40)
    with pytest.raises(ValueError, match="stride must be between 1 and patch_size"):
        occlusion(model, images, 0, stride=16)
    with pytest.raises(ValueError, match="unknown aggregation"):
        occlusion(model, images, 0, aggregation="max")
    with pytest.raises(ValueError, match="unknown base_method 'guided_backprop'"):
        smoothgrad(model, images, 0, base_method="guided_backprop")
    with pytest.raises(ValueError, match="not accepted by vanilla_gradient"):
        smoothgrad(model, images, 0, base_params={"steps": 5})
    with pytest.raises(ValueError, match="unknown channel_reduction 'l2'"):
        vanilla_gradient(model, images, 0, channel_reduction="l2")
    with pytest.raises(ValueError, match="expected 2 targets"):
        gradient_x_input(model, images, [0, 1, 2])

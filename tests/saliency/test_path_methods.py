"""Blur IG and Guided IG against PAIR-code/saliency 0.2.1, completeness, known maths."""

import json

import numpy as np
import pytest
import torch
from saliency.core import guided_ig as pair_guided_ig
from saliency.core.blur_ig import BlurIG as PairBlurIG
from scipy import ndimage

from explain.saliency.base import target_logits
from explain.saliency.blur_ig import blur_ig, blur_ig_attributions, blur_ig_result, gaussian_blur
from explain.saliency.guided_ig import guided_ig, guided_ig_attributions, guided_ig_result
from tests.saliency.helpers import pair_call_model_function, sample_image, tiny_cnn

TARGET = 3


@pytest.fixture(scope="module")
def model():
    return tiny_cnn(seed=1)


@pytest.fixture(scope="module")
def images():
    return torch.tensor(np.random.default_rng(0).normal(size=(2, 3, 32, 32)), dtype=torch.float32)


def _hwc(tensor: torch.Tensor) -> np.ndarray:
    return tensor.numpy().transpose(1, 2, 0)


def _assert_close_to(ours_chw: np.ndarray, expected_hwc: np.ndarray, rtol: float) -> None:
    scale = np.abs(expected_hwc).max()
    assert scale > 0
    np.testing.assert_allclose(ours_chw.transpose(1, 2, 0), expected_hwc, rtol=rtol, atol=rtol * scale)


class _NumpyWithInterpolation:
    """numpy as PAIR's guided_ig module expects it: quantile still takes interpolation=."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def quantile(a, q, *args, interpolation=None, **kwargs):
        if interpolation is not None:
            kwargs["method"] = interpolation
        return np.quantile(a, q, *args, **kwargs)


@pytest.fixture
def pair_guided_ig_patched(monkeypatch):
    """PAIR's GuidedIG, runnable on numpy >= 2.4 (only PAIR's module sees the wrapper)."""
    monkeypatch.setattr(pair_guided_ig, "np", _NumpyWithInterpolation())
    return pair_guided_ig.GuidedIG()


# --- Blur IG -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(32, 32), (19, 27)])
def test_gaussian_blur_gives_scipys_numbers(shape):
    image = np.random.default_rng(2).normal(size=(3, *shape)).astype(np.float32)
    sigmas = [0.0, 0.01, 0.13, 0.5, 1.01, 3.3, 12.0, 50.0]
    ours = gaussian_blur(torch.from_numpy(image)[None].expand(len(sigmas), -1, -1, -1), sigmas).numpy()
    for blurred, sigma in zip(ours, sigmas):
        hwc = image.transpose(1, 2, 0)
        expected = (
            hwc if sigma == 0 else ndimage.gaussian_filter(hwc, sigma=[sigma, sigma, 0], mode="constant")
        )
        np.testing.assert_allclose(blurred.transpose(1, 2, 0), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "params",
    [{}, {"max_sigma": 5.0, "steps": 10}, {"max_sigma": 8.0, "steps": 12, "grad_step": 0.05, "sqrt": True}],
    ids=["defaults", "few-steps", "sqrt"],
)
def test_blur_ig_equals_pairs(model, images, params):
    ours, _ = blur_ig_attributions(model, images, TARGET, batch_size=7, **params)
    for i in range(2):
        # PAIR's default batch_size=1: with the uneven sqrt schedule, its batches > 1 weight
        # every step of a batch with the last step's sigma difference.
        expected = PairBlurIG().GetMask(_hwc(images[i]), pair_call_model_function(model, TARGET), **params)
        _assert_close_to(ours[i], expected, rtol=1e-4)


def test_blur_ig_batch_size_does_not_change_the_result(model, images):
    small = blur_ig(model, images, [0, 1], steps=8, max_sigma=4.0, batch_size=3)
    large = blur_ig(model, images, [0, 1], steps=8, max_sigma=4.0, batch_size=64)
    np.testing.assert_allclose(small, large, rtol=1e-5, atol=1e-6 * np.abs(large).max())
    assert small.shape == (2, 32, 32) and small.dtype == np.float32


def test_blur_ig_reports_completeness_against_the_most_blurred_image(model):
    image = torch.tensor(sample_image(32))[None]
    gaps = []
    for steps in (10, 50):
        attributions, details = blur_ig_attributions(model, image, TARGET, max_sigma=10.0, steps=steps)
        detail = details[0]
        blurred = ndimage.gaussian_filter(_hwc(image[0]), sigma=[10.0, 10.0, 0], mode="constant")
        ends = target_logits(
            model,
            torch.stack([image[0], torch.tensor(blurred.transpose(2, 0, 1))]),
            torch.tensor([TARGET] * 2),
            2,
        )
        assert detail["output_difference"] == pytest.approx(float(ends[0] - ends[1]), rel=1e-5)
        assert detail["attribution_sum"] == pytest.approx(
            float(attributions.astype(np.float64).sum()), rel=1e-4
        )
        expected_gap = abs(detail["attribution_sum"] - detail["output_difference"]) / abs(
            detail["output_difference"]
        )
        assert detail["completeness_gap"] == pytest.approx(expected_gap)
        assert detail["baseline_sigma"] == 10.0
        gaps.append(detail["completeness_gap"])
    # The sum approaches f(x) - f(blurred) as the sigma steps shrink (0.2 here: within 1 %).
    assert gaps[1] < gaps[0] and gaps[1] < 0.01


def test_blur_ig_sqrt_schedule_ends_at_the_square_root_of_max_sigma(model, images):
    _, details = blur_ig_attributions(model, images[:1], 0, max_sigma=16.0, steps=4, sqrt=True)
    assert details[0]["baseline_sigma"] == 4.0


# --- Guided IG -----------------------------------------------------------------------------


@pytest.mark.skipif(
    np.lib.NumpyVersion(np.__version__) < "2.4.0", reason="numpy < 2.4 still has interpolation="
)
def test_pairs_own_guided_ig_fails_on_this_numpy_while_ours_runs(model, images):
    x = _hwc(images[0])
    with pytest.raises(TypeError, match="interpolation"):
        pair_guided_ig.GuidedIG().GetMask(x, pair_call_model_function(model, TARGET), x_steps=2)
    maps = guided_ig(model, images[:1], TARGET, steps=2)
    assert maps.shape == (1, 32, 32) and np.isfinite(maps).all()


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"steps": 20},
        {"steps": 20, "fraction": 0.1, "max_dist": 1.0},
        {"steps": 15, "fraction": 1.0, "max_dist": 0.1},
        {"steps": 10, "max_dist": 0.0},
    ],
    ids=["defaults", "few-steps", "unbounded", "all-features", "straight-line"],
)
def test_guided_ig_equals_pairs(model, images, pair_guided_ig_patched, params):
    ours, _ = guided_ig_attributions(model, images, TARGET, **params)
    pair_params = {("x_steps" if key == "steps" else key): value for key, value in params.items()}
    for i in range(2):
        expected = pair_guided_ig_patched.GetMask(
            _hwc(images[i]), pair_call_model_function(model, TARGET), **pair_params
        )
        _assert_close_to(ours[i], expected, rtol=1e-5)


def test_guided_ig_with_a_baseline_equals_pairs(model, images, pair_guided_ig_patched):
    baseline = np.random.default_rng(5).uniform(-1, 1, size=(3, 32, 32)).astype(np.float32)
    baseline[:, :4] = images[0, :, :4].numpy()  # some features where input == baseline
    ours, _ = guided_ig_attributions(model, images[:1], TARGET, baseline=baseline, steps=25)
    expected = pair_guided_ig_patched.GetMask(
        _hwc(images[0]),
        pair_call_model_function(model, TARGET),
        x_baseline=baseline.transpose(1, 2, 0),
        x_steps=25,
    )
    _assert_close_to(ours[0], expected, rtol=1e-5)
    assert np.all(ours[0][:, :4] == 0)


def test_guided_ig_is_complete_on_a_smooth_model(model, images):
    # The attribution is a left Riemann sum of the path integral f(x) - f(b): its gap
    # shrinks with the steps and is small at the default 200.
    _, coarse = guided_ig_attributions(model, images, [TARGET, 0], steps=20)
    _, fine = guided_ig_attributions(model, images, [TARGET, 0], steps=200)
    for before, after in zip(coarse, fine):
        assert after["completeness_gap"] < before["completeness_gap"]
        assert after["completeness_gap"] < 5e-3
        assert after["attribution_sum"] == pytest.approx(after["output_difference"], rel=5e-3)


class _Linear(torch.nn.Module):
    def __init__(self, size: int):
        super().__init__()
        generator = torch.Generator().manual_seed(7)
        self.weights = torch.randn(2, size, generator=generator)

    def forward(self, x):
        return x.flatten(1) @ self.weights.T


@pytest.mark.parametrize("baseline", ["zeros", "max"])
def test_guided_ig_on_a_linear_model_is_difference_times_weights(baseline):
    model = _Linear(3 * 8 * 8)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(8))
    attributions, details = guided_ig_attributions(model, x, 1, baseline=baseline, steps=30)
    b = 0.0 if baseline == "zeros" else x.flatten(1).amax(dim=1)[:, None, None, None]
    expected = ((x - b) * model.weights[1].reshape(1, 3, 8, 8)).numpy()
    np.testing.assert_allclose(attributions, expected, rtol=1e-5, atol=1e-6)
    assert all(detail["completeness_gap"] < 1e-5 for detail in details)


def test_guided_ig_with_zero_max_dist_is_left_riemann_ig():
    # f(x) = sum(w * x^2) from a zero baseline on the straight line, gradients at
    # k / steps for k < steps: attribution = w * x^2 * (1 - 1 / steps).
    weights = torch.linspace(0.5, 2.0, 3 * 4 * 4).reshape(1, 3, 4, 4)

    class Quadratic(torch.nn.Module):
        def forward(self, x):
            value = (weights * x**2).sum(dim=(1, 2, 3))
            return torch.stack([value, -value], dim=1)

    x = torch.randn(1, 3, 4, 4, generator=torch.Generator().manual_seed(3))
    steps = 8
    attributions, _ = guided_ig_attributions(Quadratic(), x, 0, steps=steps, max_dist=0.0)
    expected = (weights * x**2 * (1 - 1 / steps))[0].numpy()
    np.testing.assert_allclose(attributions[0], expected, rtol=1e-5, atol=1e-7)


def test_guided_ig_batches_images_without_changing_them(model, images):
    together = guided_ig(model, images, [TARGET, 1], steps=12, batch_size=1)
    alone = np.concatenate(
        [guided_ig(model, images[i : i + 1], [t], steps=12) for i, t in enumerate([TARGET, 1])]
    )
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6 * np.abs(alone).max())


def test_guided_ig_of_the_baseline_itself_is_zero(model):
    result = guided_ig_result(model, np.zeros((1, 3, 32, 32), dtype=np.float32), 0, steps=5)
    assert not result.maps.any()
    assert result.details[0]["attribution_sum"] == 0.0


# --- Shared --------------------------------------------------------------------------------


@pytest.mark.parametrize("result_function", [blur_ig_result, guided_ig_result])
def test_results_are_maps_with_json_details(model, images, result_function):
    result = result_function(model, images, [0, 1], steps=3, channel_reduction="sum")
    assert result.maps.shape == (2, 32, 32) and result.maps.dtype == np.float32
    assert len(result.details) == 2
    json.dumps(result.details)
    attributions = (blur_ig_attributions if result_function is blur_ig_result else guided_ig_attributions)(
        model, images, [0, 1], steps=3
    )[0]
    np.testing.assert_allclose(result.maps, attributions.sum(axis=1), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "function, params, message",
    [
        (blur_ig, {"steps": 0}, "steps must be"),
        (blur_ig, {"max_sigma": -1.0}, "max_sigma must be > 0"),
        (blur_ig, {"max_sigma": 0}, "max_sigma must be > 0"),
        (blur_ig, {"grad_step": 0.0}, "grad_step must be > 0"),
        (blur_ig, {"batch_size": 0}, "batch_size must be"),
        (blur_ig, {"channel_reduction": "mean"}, "unknown channel_reduction"),
        (guided_ig, {"steps": 0}, "steps must be"),
        (guided_ig, {"steps": 2.5}, "steps must be"),
        (guided_ig, {"fraction": 0.0}, r"fraction must be in \(0, 1\]"),
        (guided_ig, {"fraction": -0.25}, r"fraction must be in \(0, 1\]"),
        (guided_ig, {"fraction": 1.5}, r"fraction must be in \(0, 1\]"),
        (guided_ig, {"max_dist": -0.1}, r"max_dist must be in \[0, 1\]"),
        (guided_ig, {"max_dist": 1.1}, r"max_dist must be in \[0, 1\]"),
        (guided_ig, {"baseline": "grey"}, "unknown baseline"),
        (guided_ig, {"channel_reduction": "mean"}, "unknown channel_reduction"),
    ],
)
def test_bad_parameters_are_rejected_with_clear_messages(model, images, function, params, message):
    with pytest.raises(ValueError, match=message):
        function(model, images, 0, **params)

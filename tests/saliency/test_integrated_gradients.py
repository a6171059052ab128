import numpy as np
import pytest
import torch
from saliency.core.integrated_gradients import IntegratedGradients as PairIntegratedGradients

from explain import saliency
from explain.saliency.integrated_gradients import integrated_gradients_attributions, integration_nodes
from tests.saliency.helpers import pair_call_model_function, tiny_cnn


@pytest.fixture(scope="module")
def model():
    return tiny_cnn(seed=1)


@pytest.fixture(scope="module")
def images():
    return torch.tensor(np.random.default_rng(0).normal(size=(2, 3, 32, 32)), dtype=torch.float32)


def test_pair_rule_equals_pairs_integrated_gradients(model, images):
    target = 3
    ours, _ = integrated_gradients_attributions(model, images, target, steps=25, batch_size=7)
    for i in range(2):
        x = images[i].numpy().transpose(1, 2, 0)
        expected = PairIntegratedGradients().GetMask(
            x, pair_call_model_function(model, target), x_steps=25, batch_size=25
        )
        np.testing.assert_allclose(ours[i].transpose(1, 2, 0), expected, rtol=1e-4, atol=1e-6)


def test_completeness_holds_for_a_function_with_a_known_integral():
    # f(x) = sum(w * x^2): the exact IG attribution from a zero baseline is w * x^2.
    weights = torch.linspace(0.5, 2.0, 3 * 4 * 4).reshape(1, 3, 4, 4)

    class Quadratic(torch.nn.Module):
        def forward(self, x):
            value = (weights * x**2).sum(dim=(1, 2, 3))
            return torch.stack([value, -value], dim=1)

    x = torch.randn(1, 3, 4, 4)
    attributions, details = integrated_gradients_attributions(
        Quadratic(), x, 0, steps=8, rule="gauss_legendre"
    )
    np.testing.assert_allclose(attributions[0], (weights * x**2)[0].numpy(), rtol=1e-5, atol=1e-6)
    assert details[0]["completeness_gap"] < 1e-5


def test_the_completeness_gap_shrinks_as_steps_grow(model, images):
    gaps = []
    for steps in (5, 25, 100):
        _, details = integrated_gradients_attributions(model, images[:1], 1, steps=steps, rule="trapezoid")
        gaps.append(details[0]["completeness_gap"])
    assert gaps[0] > gaps[1] > gaps[2]


def test_batch_size_does_not_change_the_result(model, images):
    small = saliency.integrated_gradients(model, images, [0, 1], steps=10, batch_size=3)
    large = saliency.integrated_gradients(model, images, [0, 1], steps=10, batch_size=64)
    np.testing.assert_allclose(small, large, rtol=1e-5, atol=1e-7)
    assert small.shape == (2, 32, 32) and small.dtype == np.float32


def test_integration_weights_sum_to_one():
    for rule in ("pair", "trapezoid", "gauss_legendre"):
        nodes, weights = integration_nodes(10, rule)
        assert nodes.min() >= 0 and nodes.max() <= 1
        assert weights.sum() == pytest.approx(1.0)


def test_bad_parameters_are_rejected_with_clear_messages(model, images):
    with pytest.raises(ValueError, match="unknown rule"):
        saliency.integrated_gradients(model, images, 0, rule="simpson")
    with pytest.raises(ValueError, match="expected 2 targets"):
        saliency.integrated_gradients(model, images, [0, 1, 2])
    with pytest.raises(ValueError, match="baseline shape"):
        saliency.integrated_gradients(model, images, 0, baseline=np.zeros((3, 8, 8)))


def test_gauss_legendre_rule_equals_captums_integrated_gradients(model, images):
    from captum.attr import IntegratedGradients as CaptumIntegratedGradients

    ours, _ = integrated_gradients_attributions(model, images, [1, 4], steps=16, rule="gauss_legendre")
    theirs = CaptumIntegratedGradients(model).attribute(
        images, baselines=0.0, target=[1, 4], n_steps=16, method="gausslegendre", internal_batch_size=8
    )
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-4, atol=1e-6)


def test_combined_baselines_average_their_single_attributions(model, images):
    values = {"black_value": [-1.0, -0.9, -0.8], "white_value": [1.0, 1.1, 1.2]}
    black, _ = integrated_gradients_attributions(model, images, 0, baseline="black", steps=6, **values)
    white, _ = integrated_gradients_attributions(model, images, 0, baseline="white", steps=6, **values)
    both, details = integrated_gradients_attributions(
        model, images, 0, baseline="black_white", steps=6, **values
    )
    np.testing.assert_allclose(both, (black + white) / 2, rtol=1e-5, atol=1e-7)
    assert [entry["baseline"] for entry in details[0]["baselines"]] == ["black", "white"]


def test_random_baselines_are_reproducible_with_a_seed(model, images):
    first, details = integrated_gradients_attributions(
        model, images, 2, baseline="random", n_random=3, steps=4
    )
    again, _ = integrated_gradients_attributions(model, images, 2, baseline="random", n_random=3, steps=4)
    other, _ = integrated_gradients_attributions(
        model, images, 2, baseline="random", n_random=3, steps=4, seed=1
    )
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert len(details[0]["baselines"]) == 3


def test_a_black_baseline_needs_the_model_space_value_of_black(model, images):
    with pytest.raises(ValueError, match="black_value"):
        saliency.integrated_gradients(model, images, 0, baseline="black")


def test_several_targets_of_one_image_in_one_call_equal_separate_calls(model, images):
    together = saliency.compute_for_targets("integrated_gradients", model, images[0], [0, 3], steps=5)
    for row, target in enumerate([0, 3]):
        alone = saliency.integrated_gradients(model, images[:1], target, steps=5)[0]
        np.testing.assert_allclose(together[row], alone, rtol=1e-5, atol=1e-7)


def _gap_at(model, image, target, steps, rule="pair"):
    _, details = integrated_gradients_attributions(model, image, target, steps=steps, rule=rule)
    return details[0]["completeness_gap"]


def test_a_completeness_target_stops_at_the_first_doubling_that_meets_it(model, images):
    target = {"max_gap": 0.01, "initial": 2, "limit": 256}
    attributions, details = integrated_gradients_attributions(model, images, [0, 3], steps=target)
    for i, class_index in enumerate((0, 3)):
        used = details[i]["steps_used"]
        assert used in (2, 4, 8, 16, 32, 64, 128, 256)
        assert details[i]["completeness_gap"] <= 0.01
        assert details[i]["completeness_gap"] == pytest.approx(
            _gap_at(model, images[i : i + 1], class_index, used)
        )
        if used > 2:  # the previous doubling had not reached the target
            assert _gap_at(model, images[i : i + 1], class_index, used // 2) > 0.01
        # Every attempt costs its path points and the two end points.
        attempts = [2 * 2**k for k in range(used.bit_length()) if 2 * 2**k <= used]
        assert details[i]["model_passes"] == sum(s + 2 for s in attempts)
        fixed, _ = integrated_gradients_attributions(model, images[i : i + 1], class_index, steps=used)
        np.testing.assert_allclose(attributions[i], fixed[0], rtol=1e-5, atol=1e-7)


def test_a_completeness_target_out_of_reach_stops_at_the_limit(model, images):
    _, details = integrated_gradients_attributions(
        model, images[:1], 1, steps={"max_gap": 1e-12, "initial": 4, "limit": 40}
    )
    assert details[0]["steps_used"] == 32  # 4, 8, 16, 32; 64 would pass the limit
    assert details[0]["completeness_gap"] > 1e-12


def test_gauss_legendre_reaches_a_target_with_fewer_points_than_pairs_rule(model, images):
    target = {"max_gap": 0.002, "initial": 2, "limit": 1024}
    _, pair = integrated_gradients_attributions(model, images[:1], 2, steps=target, rule="pair")
    _, gauss = integrated_gradients_attributions(model, images[:1], 2, steps=target, rule="gauss_legendre")
    assert gauss[0]["steps_used"] < pair[0]["steps_used"]


@pytest.mark.parametrize(
    "steps, message",
    [
        ({"max_gap": 5}, "between 0 and 1"),
        ({"initial": 64, "limit": 8}, "initial <= limit"),
        ({"gap": 0.05}, "unknown keys in steps: gap"),
        ("auto", "completeness target"),
    ],
)
def test_bad_completeness_targets_are_refused_by_name(model, images, steps, message):
    with pytest.raises(ValueError, match=message):
        integrated_gradients_attributions(model, images[:1], 0, steps=steps)

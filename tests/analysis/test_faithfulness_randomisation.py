import math

import numpy as np
import pytest
from scipy import stats
from skimage.metrics import structural_similarity

from analysis.faithfulness.randomisation import (
    hog_similarity,
    normalise_to_unit_range,
    randomisation_similarities,
    randomisation_steps,
    spearman_similarity,
    ssim_similarity,
)

RNG = np.random.default_rng(0)
MAP = RNG.normal(size=(24, 24))


def test_spearman_of_a_map_with_itself_and_its_reverse():
    assert spearman_similarity(MAP, MAP) == pytest.approx(1.0, abs=1e-12)
    assert spearman_similarity(MAP, -MAP) == pytest.approx(-1.0, abs=1e-12)
    # With absolute values a sign flip changes nothing.
    assert spearman_similarity(MAP, -MAP, absolute=True) == pytest.approx(1.0, abs=1e-12)
    # Any increasing transform keeps the ranks.
    assert spearman_similarity(MAP, np.exp(MAP)) == pytest.approx(1.0, abs=1e-12)
    assert math.isnan(spearman_similarity(MAP, np.zeros_like(MAP)))


def test_spearman_by_hand_with_ties():
    # Ranks [1, 2.5, 2.5, 4] and [4, 3, 2, 1]: centred [-1.5, 0, 0, 1.5] and [1.5, .5, -.5, -1.5];
    # r = -4.5 / sqrt(4.5 * 5) = -sqrt(0.9).
    value = spearman_similarity(np.array([[1.0, 2.0], [2.0, 3.0]]), np.array([[4.0, 3.0], [2.0, 1.0]]))
    assert value == pytest.approx(-math.sqrt(0.9), abs=1e-12)


def test_spearman_equals_scipy_and_quantus_with_ties():
    similarity_func = pytest.importorskip("quantus.functions.similarity_func")
    for seed in range(4):
        rng = np.random.default_rng(seed)
        a, b = np.round(rng.normal(size=(2, 16, 16)), 1)
        ours = spearman_similarity(a, b)
        assert ours == pytest.approx(stats.spearmanr(a.ravel(), b.ravel()).statistic, abs=1e-12)
        assert ours == pytest.approx(similarity_func.correlation_spearman(a.ravel(), b.ravel()), abs=1e-12)
        assert spearman_similarity(a, b, absolute=True) == pytest.approx(
            similarity_func.correlation_spearman(np.abs(a).ravel(), np.abs(b).ravel()), abs=1e-12
        )


def test_ssim_is_one_for_identical_maps_and_ignores_scale_and_offset():
    assert ssim_similarity(MAP, MAP) == 1.0
    assert ssim_similarity(MAP, 3.0 * MAP + 2.0) == pytest.approx(1.0, abs=1e-12)
    assert ssim_similarity(MAP, -MAP) < 0


def test_ssim_is_skimage_on_unit_range_maps_with_data_range_one_as_quantus_on_normalised_maps():
    similarity_func = pytest.importorskip("quantus.functions.similarity_func")
    other = MAP + RNG.normal(size=MAP.shape)
    a, b = normalise_to_unit_range(MAP), normalise_to_unit_range(other)
    assert (a.min(), a.max(), b.min(), b.max()) == (0.0, 1.0, 0.0, 1.0)
    expected = structural_similarity(a, b, data_range=1.0)
    assert ssim_similarity(MAP, other) == expected
    # Quantus takes data_range = max - min over both maps, 1 here.
    assert ssim_similarity(MAP, other) == pytest.approx(similarity_func.ssim(a, b), abs=1e-12)
    # Its MPRT passes flattened maps, which gives a one-dimensional SSIM: another number.
    assert abs(similarity_func.ssim(a.ravel(), b.ravel()) - expected) > 0.01


def test_hog_similarity_is_one_for_the_same_map_up_to_scale():
    assert hog_similarity(MAP, MAP) == pytest.approx(1.0, abs=1e-12)
    assert hog_similarity(MAP, 5.0 * MAP - 1.0) == pytest.approx(1.0, abs=1e-12)
    assert hog_similarity(MAP, RNG.normal(size=MAP.shape)) < 0.5


def test_the_table_has_one_row_per_step_in_the_order_given():
    rows = randomisation_similarities(MAP, [("fc", MAP), ("conv2", -MAP)], include_hog=True)
    assert [(row["step"], row["layer"]) for row in rows] == [(1, "fc"), (2, "conv2")]
    assert rows[0]["spearman"] == pytest.approx(1.0) and rows[1]["spearman"] == pytest.approx(-1.0)
    assert rows[1]["spearman_abs"] == pytest.approx(1.0)
    assert rows[0]["ssim"] == 1.0 and rows[0]["hog"] == pytest.approx(1.0)
    assert set(rows[0]) == {"step", "layer", "spearman", "spearman_abs", "ssim", "hog"}
    assert "hog" not in randomisation_similarities(MAP, [("fc", MAP)])[0]


def test_steps_cascade_from_the_logits_down():
    assert randomisation_steps(["conv1", "conv2", "fc"]) == [
        ("fc", ("fc",)),
        ("conv2", ("fc", "conv2")),
        ("conv1", ("fc", "conv2", "conv1")),
    ]
    assert randomisation_steps(["conv1", "fc"], cascading=False) == [("fc", ("fc",)), ("conv1", ("conv1",))]
    with pytest.raises(ValueError, match="distinct"):
        randomisation_steps(["a", "a"])


def _tiny_model(torch):
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(3, 2, 3, padding=1),
        torch.nn.Flatten(),
        torch.nn.Linear(2 * 12 * 12, 4),
    ).eval()


def _gradient_times_input(torch, model, inputs, targets):
    x = torch.tensor(np.asarray(inputs), dtype=torch.float32, requires_grad=True)
    model(x)[torch.arange(len(x)), torch.as_tensor(np.asarray(targets))].sum().backward()
    return (x.grad * x).detach().numpy()


def test_quantus_mprt_cascade_and_spearman_scores_equal_ours():
    quantus = pytest.importorskip("quantus")
    torch = pytest.importorskip("torch")
    model = _tiny_model(torch)
    x = np.random.default_rng(5).random((2, 1, 12, 12)).astype(np.float32)
    y = np.array([1, 3])
    original_maps = _gradient_times_input(torch, model, x, y)
    original_state = {k: v.clone() for k, v in model.state_dict().items()}

    def explain(model, inputs, targets, **kwargs):
        return _gradient_times_input(torch, model, inputs, targets)

    metric = quantus.MPRT(abs=False, normalise=False, disable_warnings=True, display_progressbar=False)
    reference = metric(model=model, x_batch=x, y_batch=y, a_batch=original_maps, explain_func=explain)

    # The layers with parameters, forward order, as named_modules lists them.
    names = [name for name, module in model.named_modules() if hasattr(module, "reset_parameters")]
    steps = randomisation_steps(names)
    generator = quantus.helpers.model.pytorch_model.PyTorchModel(model).get_random_layer_generator()
    randomised = {}
    for (layer, model_at_step), (step_layer, reinitialised) in zip(generator, steps, strict=True):
        assert layer == step_layer
        changed = {key.split(".")[0] for key, value in model_at_step.state_dict().items()
                   if not torch.equal(value, original_state[key])}  # fmt: skip
        assert changed == set(reinitialised)  # cascading: this layer and every one above it
        randomised[layer] = _gradient_times_input(torch, model_at_step, x, y)
    assert list(reference) == ["original"] + [layer for layer, _ in steps]
    for i in range(len(x)):
        rows = randomisation_similarities(
            original_maps[i, 0], [(layer, randomised[layer][i, 0]) for layer, _ in steps]
        )
        ours = np.array([row["spearman"] for row in rows])
        np.testing.assert_allclose(ours, [reference[layer][i] for layer, _ in steps], atol=1e-12)

import math

import numpy as np
import pytest

from analysis.faithfulness.insertion_deletion import (
    deletion_curve,
    gaussian_blur,
    insertion_curve,
    saliency_order,
    trapezoid_area,
)

IMAGE = np.array([[1.0, 2.0], [3.0, 4.0]])
SALIENCY = np.array([[0.1, 0.4], [0.3, 0.2]])  # order: 2, 3, 4, 1


def total(images):
    return images.sum(axis=(1, 2))  # a linear model with weights 1


def test_deletion_removes_the_most_salient_pixels_first():
    curve = deletion_curve(IMAGE, SALIENCY, total, step=1)
    assert curve.fractions.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert curve.scores.tolist() == [10.0, 8.0, 5.0, 1.0, 0.0]
    # 0.25 * ((10 + 8) / 2 + (8 + 5) / 2 + (5 + 1) / 2 + (1 + 0) / 2) = 0.25 * 19
    assert curve.auc == 4.75


def test_insertion_puts_the_most_salient_pixels_back_first():
    curve = insertion_curve(IMAGE, SALIENCY, total, step=1, start=np.zeros((2, 2)))
    assert curve.scores.tolist() == [0.0, 2.0, 5.0, 9.0, 10.0]
    assert curve.auc == 5.25  # 0.25 * (1 + 3.5 + 7 + 9.5)


def test_for_a_linear_model_insertion_plus_deletion_is_constant():
    rng = np.random.default_rng(0)
    image, saliency, weights = rng.random((6, 5, 3)), rng.random((6, 5)), rng.normal(size=(6, 5, 3))

    def linear(images):
        return (images * weights).sum(axis=(1, 2, 3))

    blurred = gaussian_blur(image)
    deletion = deletion_curve(image, saliency, linear, step=4, baseline="blur")
    insertion = insertion_curve(image, saliency, linear, step=4)
    expected = float((weights * image).sum() + (weights * blurred).sum())
    np.testing.assert_allclose(deletion.scores + insertion.scores, expected, rtol=1e-12)
    assert deletion.auc + insertion.auc == pytest.approx(expected, rel=1e-12)


def test_a_step_that_does_not_divide_ends_with_a_shorter_last_interval():
    curve = deletion_curve(IMAGE, SALIENCY, total, step=3)
    assert curve.fractions.tolist() == [0.0, 0.75, 1.0]
    assert curve.scores.tolist() == [10.0, 1.0, 0.0]
    assert curve.auc == 0.75 * 11 / 2 + 0.25 * 1 / 2


def test_default_step_gives_rises_224_steps_on_224_by_224():
    image = np.zeros((224, 224))
    curve = deletion_curve(image, np.zeros((224, 224)), total, batch_size=300)
    assert len(curve.fractions) == 225
    assert curve.fractions[1] == 224 / 224**2


def test_ties_are_taken_in_raster_order():
    assert saliency_order(np.array([[1.0, 2.0, 1.0], [2.0, 1.0, 0.0]])).tolist() == [1, 3, 0, 2, 4, 5]
    curve = deletion_curve(IMAGE, np.zeros((2, 2)), total, step=1)
    assert curve.scores.tolist() == [10.0, 9.0, 7.0, 4.0, 0.0]


def test_class_scores_with_a_target_in_batches_give_one_call_per_batch():
    calls = []

    def two_class(images):
        calls.append(len(images))
        s = images.sum(axis=(1, 2))
        return np.stack([s, -s], axis=1)

    curve = deletion_curve(IMAGE, SALIENCY, two_class, target=1, step=1, batch_size=2)
    assert calls == [2, 2, 1]
    assert curve.scores.tolist() == [-10.0, -8.0, -5.0, -1.0, 0.0]


def test_blur_is_an_11_by_11_gaussian_with_sigma_5_per_channel():
    impulse = np.zeros((21, 21, 2))
    impulse[10, 10, 0] = 1.0
    blurred = gaussian_blur(impulse)
    taps = np.exp(-(np.arange(-5, 6) ** 2) / (2 * 25.0))
    taps /= taps.sum()
    np.testing.assert_allclose(blurred[5:16, 5:16, 0], np.outer(taps, taps), rtol=1e-12)
    assert blurred[:, :, 0].sum() == pytest.approx(1.0)
    assert blurred[4, 10, 0] == 0.0 and blurred[10, 16, 0] == 0.0  # radius 5
    assert not blurred[:, :, 1].any()  # channels are not mixed
    flat = np.full((8, 9, 3), 0.25)
    np.testing.assert_allclose(gaussian_blur(flat), flat)  # reflected edges keep the colour


def test_trapezoid_area_of_a_line():
    assert trapezoid_area(np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.5, 1.0])) == 0.5
    assert math.isclose(trapezoid_area(np.linspace(0, 1, 11), np.ones(11)), 1.0)


def test_deletion_matches_quantus_pixel_flipping_without_its_first_point():
    quantus = pytest.importorskip("quantus")
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 6 * 6, 5)).eval()
    rng = np.random.default_rng(1)
    images = rng.random((2, 6, 6, 3))
    maps = rng.random((2, 6, 6))  # distinct values: the order has no ties
    targets = np.array([3, 1])

    def pred_func(batch):
        with torch.no_grad():
            logits = model(torch.from_numpy(batch.transpose(0, 3, 1, 2)).float())
        return torch.softmax(logits, dim=1).numpy()

    step = 4
    metric = quantus.PixelFlipping(
        features_in_step=3 * step, perturb_baseline=0.0, disable_warnings=True, display_progressbar=False
    )
    reference = metric(
        model=model,
        x_batch=images.transpose(0, 3, 1, 2).astype(np.float32),
        y_batch=targets,
        a_batch=maps[:, None].astype(np.float32),
        softmax=True,
        channel_first=True,
    )
    for image, saliency, target, flipped in zip(images, maps, targets, reference):
        ours = deletion_curve(image.astype(np.float32), saliency, pred_func, target=int(target), step=step)
        assert len(flipped) == len(ours.scores) - 1
        np.testing.assert_allclose(ours.scores[1:], flipped, atol=1e-6)


def test_quantus_region_perturbation_is_deletion_of_patches_ranked_by_their_sums():
    # Quantus's RegionPerturbation (Samek et al. 2017) removes whole patch_size x patch_size
    # patches, most relevant patch sum first, and reports f(x) - f(perturbed). A map constant on
    # each patch (its patch sum) orders the pixels patch by patch, so our deletion curve with
    # step = patch_size**2 removes the same patches in the same order.
    quantus = pytest.importorskip("quantus")
    torch = pytest.importorskip("torch")
    torch.manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 5)).eval()
    rng = np.random.default_rng(4)
    images, maps, targets = rng.random((2, 8, 8, 3)), rng.random((2, 8, 8)), np.array([0, 4])
    patch = 2

    def pred_func(batch):
        with torch.no_grad():
            logits = model(torch.from_numpy(batch.transpose(0, 3, 1, 2)).float())
        return torch.softmax(logits, dim=1).numpy()

    metric = quantus.RegionPerturbation(
        patch_size=patch, regions_evaluation=16, perturb_baseline=0.0, disable_warnings=True
    )
    reference = metric(
        model=model,
        x_batch=images.transpose(0, 3, 1, 2).astype(np.float32),
        y_batch=targets,
        a_batch=maps[:, None].astype(np.float32),
        softmax=True,
        channel_first=True,
    )
    for image, saliency, target, drops in zip(images, maps, targets, reference):
        patch_sums = saliency.reshape(4, patch, 4, patch).sum(axis=(1, 3))
        patch_map = np.kron(patch_sums, np.ones((patch, patch)))
        ours = deletion_curve(
            image.astype(np.float32), patch_map, pred_func, target=int(target), step=patch**2
        )
        np.testing.assert_allclose(ours.scores[0] - ours.scores[1:], drops, atol=1e-6)

"""analysis.pic against PAIR-code saliency 0.2.1 (``saliency.metrics.pic``), the reference
implementation of the XRAI paper's Performance Information Curves, plus known answers.

PAIR's code calls ``np.trapz``, which numpy 2.4 removed: the ``pair`` fixture puts it back
(as ``np.trapezoid``) for the duration of a test. PAIR is slow (griddata triangulates every
colour channel), so the parity cases use 64x64 images and a few thresholds, and one case
224x224.
"""

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy.ndimage import gaussian_filter

from analysis import pic

FEW_THRESHOLDS = (0.01, 0.05, 0.13, 0.34, 0.75)


@pytest.fixture
def pair(monkeypatch):
    from saliency.metrics import pic as reference

    monkeypatch.setattr(np, "trapz", np.trapezoid, raising=False)
    # PAIR's griddata inverts one 2x2 matrix per triangle through LAPACK; on a busy machine
    # OpenBLAS's threads make that 100x slower (benchmarks/pic.py). One thread, same values.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # not a pinned dependency (scikit-learn brings it)
        yield reference
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield reference


def natural_image(size: int, seed: int) -> np.ndarray:
    """Smooth colour gradients, a few filled shapes and a fine texture: WebP finds less
    information once most pixels are interpolated, as in a photograph."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.stack([200 * xx + 30, 180 * yy + 40, 120 + 60 * np.sin(6 * xx + 3 * yy)], axis=-1)
    picture = Image.fromarray(base.astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    for _ in range(4):
        left, top = rng.integers(0, size * 3 // 4, size=2)
        extent = rng.integers(size // 8, size // 3, size=2)
        box = (int(left), int(top), int(left + extent[0]), int(top + extent[1]))
        colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    texture = rng.normal(0.0, 6.0, size=(size, size, 3))
    return np.clip(np.asarray(picture, dtype=np.float64) + texture, 0, 255).astype(np.uint8)


def demo_image(size: int) -> np.ndarray:
    """The demo study's cat (scikit-image's chelsea), centre square, resized."""
    from catalogue.demo_data import DEMO_IMAGES, demo_image_path

    source = dict((name, file) for name, file, *_ in DEMO_IMAGES)["chelsea"]
    picture = Image.open(demo_image_path(source)).convert("RGB")
    side = min(picture.size)
    left, top = (picture.width - side) // 2, (picture.height - side) // 2
    return np.asarray(picture.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR))


def edge_energy(batch: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Mean absolute horizontal + vertical difference of the grey image inside ``region``,
    image by image, so that a score does not depend on the batch it came in (numpy's
    reductions over a batch may sum in another order)."""
    energies = []
    for image in batch:
        grey = image.astype(np.float64).mean(axis=-1)
        across = np.abs(np.diff(grey, axis=1))[region[:, 1:]].mean()
        down = np.abs(np.diff(grey, axis=0))[region[1:, :]].mean()
        energies.append(across + down)
    return np.array(energies)


class EdgeModel:
    """A deterministic two-class 'model' whose class logit grows with the edge energy inside
    a region, scaled so that the original image scores ``target``. Interpolation smooths the
    edges away, so blurring lowers the score, and revealing the region's edges restores it."""

    def __init__(self, image: np.ndarray, region: np.ndarray, target: float = 0.9):
        self.region = region
        energy = edge_energy(image[None], region)[0]
        self.gain = 6.0 / energy
        self.offset = energy - np.log(target / (1 - target)) / self.gain

    def logit(self, batch: np.ndarray) -> np.ndarray:
        return self.gain * (edge_energy(batch, self.region) - self.offset)

    def sic(self, batch: np.ndarray) -> list[float]:
        """Softmax of the class over the logits (z, 0)."""
        return list(1.0 / (1.0 + np.exp(-self.logit(batch))))

    def aic(self, batch: np.ndarray) -> list[float]:
        """1.0 where the class is the top-1 prediction, else 0.0."""
        return list((self.logit(batch) > 0).astype(np.float64))

    def sic_float32(self, batch: np.ndarray) -> np.ndarray:
        return (1.0 / (1.0 + np.exp(-self.logit(batch)))).astype(np.float32)


def centre_region(size: int) -> np.ndarray:
    region = np.zeros((size, size), dtype=bool)
    region[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = True
    return region


def smooth_map(size: int, seed: int) -> np.ndarray:
    """Blobby, like XRAI's region maps."""
    return gaussian_filter(np.random.default_rng(seed).random((size, size)), size / 16)


def noisy_map(size: int, seed: int) -> np.ndarray:
    """Pixel noise, like a raw gradient map."""
    return np.random.default_rng(seed).random((size, size))


def region_map(size: int, seed: int) -> np.ndarray:
    """Constant over 8x8 blocks, like XRAI's region maps: neighbouring thresholds often
    reveal the same blocks."""
    blocks = np.random.default_rng(seed).random((size // 8, size // 8))
    return np.kron(blocks, np.ones((8, 8)))


def oracle_map(image: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The pixels the EdgeModel reads: edge magnitude inside its region."""
    grey = image.astype(np.float64).mean(axis=-1)
    magnitude = np.zeros_like(grey)
    magnitude[:, 1:] += np.abs(np.diff(grey, axis=1))
    magnitude[1:, :] += np.abs(np.diff(grey, axis=0))
    return np.where(region, magnitude, 0.0)


def assert_same_as_pair(mine: pic.PicResult, theirs, pair) -> None:
    assert len(mine.blurred_images) == len(theirs.blurred_images)
    for ours, reference in zip(mine.blurred_images, theirs.blurred_images):
        assert ours.dtype == reference.dtype
        np.testing.assert_array_equal(ours, reference)
    assert mine.entropies.tolist() == [pair.estimate_image_entropy(image) for image in theirs.blurred_images]
    np.testing.assert_array_equal(mine.predictions, np.asarray(theirs.predictions, dtype=np.float64))
    np.testing.assert_array_equal(mine.thresholds, theirs.thresholds)
    np.testing.assert_array_equal(mine.curve_x, theirs.curve_x)
    np.testing.assert_array_equal(mine.curve_y, theirs.curve_y)
    assert mine.auc == theirs.auc


def both(pair, image, saliency_map, mask, pred_func, thresholds, **options):
    mine = pic.compute_pic(image, saliency_map, mask, pred_func, thresholds, **options)
    theirs = pair.compute_pic_metric(image, saliency_map, mask, pred_func, thresholds, **options)
    return mine, theirs


CASES = [
    ("natural-0", "smooth", "sic"),
    ("natural-1", "noisy", "sic"),
    ("demo", "oracle", "sic"),
    ("natural-2", "smooth", "aic"),
    ("demo", "noisy", "aic"),
    ("natural-3", "regions", "sic"),
]


@pytest.mark.parametrize("image_name, map_kind, metric", CASES)
def test_curves_images_and_entropies_equal_pairs(pair, image_name, map_kind, metric):
    size = 64
    image = demo_image(size) if image_name == "demo" else natural_image(size, int(image_name[-1]))
    region = centre_region(size)
    model = EdgeModel(image, region)
    saliency_map = {
        "smooth": smooth_map(size, 3),
        "noisy": noisy_map(size, 4),
        "oracle": oracle_map(image, region),
        "regions": region_map(size, 5),
    }[map_kind]
    mask = pic.random_mask((size, size), seed=5)
    mine, theirs = both(pair, image, saliency_map, mask, getattr(model, metric), FEW_THRESHOLDS)
    assert_same_as_pair(mine, theirs, pair)
    assert 0.0 < mine.auc < 1.0


def test_thresholds_that_reveal_the_same_blocks_share_one_image(pair):
    image = natural_image(64, 3)
    model = EdgeModel(image, centre_region(64))
    scored = []

    def counting(batch):
        scored.append(len(batch))
        return model.sic(batch)

    thresholds = (0.005, 0.01, 0.015, 0.05, 0.06)  # one block is 1/64 of the image
    mask = pic.random_mask((64, 64), seed=5)
    mine, theirs = both(pair, image, region_map(64, 5), mask, counting, thresholds)
    assert_same_as_pair(mine, theirs, pair)
    assert mine.entropies[1] == mine.entropies[2] == mine.entropies[3]
    assert mine.entropies[4] == mine.entropies[5]
    # Here: the original, the fully blurred image, then the 2 distinct images in one batch
    # (PAIR's 7 one-image calls follow).
    assert scored == [1, 1, 2] + [1] * 7


def test_one_224_image_equals_pair(pair):
    image = demo_image(224)
    region = centre_region(224)
    model = EdgeModel(image, region)
    mask = pic.random_mask((224, 224), seed=11)
    mine, theirs = both(pair, image, smooth_map(224, 12), mask, model.sic, (0.02, 0.21))
    assert_same_as_pair(mine, theirs, pair)


def test_without_the_running_maximum_and_with_float32_scores_as_pair(pair):
    image = natural_image(64, 6)
    model = EdgeModel(image, centre_region(64))
    mask = pic.random_mask((64, 64), seed=7)
    mine, theirs = both(
        pair, image, noisy_map(64, 8), mask, model.sic_float32, FEW_THRESHOLDS, keep_monotonous=False
    )
    assert_same_as_pair(mine, theirs, pair)
    # Without the running maximum the curve may fall back; with it, it never does.
    monotone = pic.compute_pic(image, noisy_map(64, 8), mask, model.sic_float32, FEW_THRESHOLDS)
    assert np.all(np.diff(monotone.normalized_predictions) >= 0)


def test_one_by_one_predictions_give_the_same_curve():
    image = natural_image(64, 0)
    model = EdgeModel(image, centre_region(64))
    mask = pic.random_mask((64, 64), seed=1)
    batched = pic.compute_pic(image, smooth_map(64, 2), mask, model.sic, FEW_THRESHOLDS)
    single = pic.compute_pic(image, smooth_map(64, 2), mask, model.sic, FEW_THRESHOLDS, batch_size=1)
    np.testing.assert_array_equal(batched.curve_y, single.curve_y)
    np.testing.assert_array_equal(batched.entropies, single.entropies)


def test_a_shared_blur_cache_changes_nothing_and_blurs_each_revealed_set_once(monkeypatch):
    image = natural_image(64, 0)
    model = EdgeModel(image, centre_region(64))
    mask = pic.random_mask((64, 64), seed=1)
    maps = [smooth_map(64, 2), noisy_map(64, 3)]
    alone = [pic.compute_pic(image, m, mask, f, FEW_THRESHOLDS) for m in maps for f in (model.sic, model.aic)]
    blurs = []
    original_blur = pic.blur_image
    monkeypatch.setattr(pic, "blur_image", lambda *args: blurs.append(1) or original_blur(*args))
    cache: dict = {}
    shared = [
        pic.compute_pic(image, m, mask, f, FEW_THRESHOLDS, blur_cache=cache)
        for m in maps
        for f in (model.sic, model.aic)
    ]
    for mine, theirs in zip(shared, alone):
        np.testing.assert_array_equal(mine.curve_y, theirs.curve_y)
        np.testing.assert_array_equal(mine.entropies, theirs.entropies)
        assert mine.auc == theirs.auc
    # SIC and AIC of a map share every image; the two maps share the fully blurred one.
    assert len(blurs) == len(cache) == 1 + 2 * len(FEW_THRESHOLDS)


@pytest.mark.parametrize("grey", [False, True])
def test_blurred_images_equal_pairs(pair, grey):
    image = natural_image(48, 9)
    if grey:
        image = image[:, :, 1]
    saliency_map = smooth_map(48, 10)
    random = pic.random_mask((48, 48), seed=3)
    for threshold in (0.0, 0.02, 0.1, 0.3, 0.6, 0.9):
        revealed = random | (saliency_map >= np.quantile(saliency_map, 1 - threshold))
        np.testing.assert_array_equal(
            pic.blur_image(image, revealed), pair.create_blurred_image(image, revealed)
        )


def test_float_images_are_interpolated_without_rounding_as_pair(pair):
    image = natural_image(32, 4).astype(np.float32) / 255
    revealed = pic.random_mask((32, 32), fraction=0.05, seed=2)
    ours = pic.blur_image(image, revealed)
    reference = pair.create_blurred_image(image, revealed)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-6)


def test_entropy_is_pairs_webp_size(pair):
    for image in (natural_image(64, 1), demo_image(64), np.zeros((16, 16, 3), np.uint8)):
        assert pic.image_entropy(image) == pair.estimate_image_entropy(image)


def test_three_by_three_with_only_the_corners():
    """Edge midpoints: the mean of their two corners (rounded half to even); the centre lies
    on the diagonal Qhull chose through the cocircular square: the mean of its two ends."""
    image = np.array([[10, 0, 21], [0, 0, 0], [40, 0, 61]], dtype=np.uint8)
    blurred = pic.blur_image(image, np.zeros((3, 3), dtype=bool))
    assert blurred[0, 1] == 16  # 15.5 -> 16
    assert blurred[1, 0] == 25
    assert blurred[1, 2] == 41
    assert blurred[2, 1] == 50  # 50.5 -> 50
    assert blurred[1, 1] in (np.round((10 + 61) / 2), np.round((21 + 40) / 2))  # 36 or 30
    corners = [(0, 0), (0, 2), (2, 0), (2, 2)]
    assert all(blurred[c] == image[c] for c in corners)


def test_all_revealed_returns_the_image():
    image = natural_image(16, 0)
    np.testing.assert_array_equal(pic.blur_image(image, np.ones((16, 16), dtype=bool)), image)


def test_not_confident_is_skipped_as_pair(pair):
    image = natural_image(32, 1)
    model = EdgeModel(image, centre_region(32), target=0.7)
    mask = pic.random_mask((32, 32), seed=0)
    with pytest.raises(pic.PicSkipped) as skipped:
        pic.compute_pic(image, smooth_map(32, 0), mask, model.sic, FEW_THRESHOLDS)
    assert skipped.value.reason == pic.NOT_CONFIDENT
    assert skipped.value.original == pytest.approx(0.7)
    with pytest.raises(pair.ComputePicMetricError, match="lower than `min_pred_value`"):
        pair.compute_pic_metric(image, smooth_map(32, 0), mask, model.sic, FEW_THRESHOLDS)
    # Below the threshold given instead of the default 0.8, it is scored.
    pic.compute_pic(image, smooth_map(32, 0), mask, model.sic, FEW_THRESHOLDS, min_pred_value=0.6)


def test_blurring_that_keeps_the_information_is_skipped_as_pair(pair):
    flat = np.full((32, 32, 3), 90, dtype=np.uint8)  # the blurred image is the same picture

    def confident(batch):
        return [0.9] * len(batch)

    mask = pic.random_mask((32, 32), seed=0)
    with pytest.raises(pic.PicSkipped) as skipped:
        pic.compute_pic(flat, smooth_map(32, 0), mask, confident, FEW_THRESHOLDS)
    assert skipped.value.reason == pic.BLUR_KEEPS_INFORMATION
    assert skipped.value.original == skipped.value.blurred
    with pytest.raises(pair.ComputePicMetricError, match="entropy in the completely blurred image"):
        pair.compute_pic_metric(flat, smooth_map(32, 0), mask, confident, FEW_THRESHOLDS)


def test_blurring_that_keeps_the_prediction_is_skipped_as_pair(pair):
    image = natural_image(32, 2)

    def colour_model(batch):  # reads nothing that interpolation changes
        return [0.95] * len(batch)

    mask = pic.random_mask((32, 32), seed=0)
    with pytest.raises(pic.PicSkipped) as skipped:
        pic.compute_pic(image, smooth_map(32, 0), mask, colour_model, FEW_THRESHOLDS)
    assert skipped.value.reason == pic.BLUR_KEEPS_PREDICTION
    with pytest.raises(pair.ComputePicMetricError, match="prediction score on the completely blurred"):
        pair.compute_pic_metric(image, smooth_map(32, 0), mask, colour_model, FEW_THRESHOLDS)


def test_a_uint8_image_is_required():
    with pytest.raises(ValueError, match="uint8"):
        pic.compute_pic(np.zeros((8, 8, 3)), np.zeros((8, 8)), np.zeros((8, 8), bool), list, FEW_THRESHOLDS)


def test_aggregation_equals_pairs(pair):
    mine, theirs = [], []
    for seed in range(3):
        image = natural_image(48, seed)
        model = EdgeModel(image, centre_region(48))
        mask = pic.random_mask((48, 48), seed=seed)
        ours, reference = both(pair, image, smooth_map(48, seed), mask, model.sic, (0.02, 0.1, 0.4))
        mine.append(ours)
        theirs.append(reference)
    for method in ("median", "mean"):
        aggregate = pic.aggregate_pic(mine, method)
        reference = pair.aggregate_individual_pic_results(theirs, method)
        np.testing.assert_array_equal(aggregate.curve_x, reference.curve_x)
        np.testing.assert_array_equal(aggregate.curve_y, reference.curve_y)
        assert aggregate.auc == reference.auc
        assert aggregate.count == 3


def fake_result(curve_y: list[float]) -> pic.PicResult:
    curve_x = np.linspace(0.0, 1.0, len(curve_y))
    empty = np.zeros(0)
    return pic.PicResult(np.asarray(curve_x), np.asarray(curve_y), 0.0, empty, empty, empty, empty, empty)


def test_aggregation_known_answer():
    results = [fake_result([0, 0.2, 1]), fake_result([0, 0.6, 1]), fake_result([0, 0.4, 1])]
    median = pic.aggregate_pic(results)
    np.testing.assert_allclose(median.curve_y, [0, 0.4, 1])
    # Trapezoids over x = 0, 0.5, 1: 0.5 * (0 + 0.4) / 2 + 0.5 * (0.4 + 1) / 2 = 0.45
    assert median.auc == pytest.approx(0.45)
    assert pic.aggregate_pic(results, "mean").auc == pytest.approx(0.45)
    with pytest.raises(ValueError, match="different x points"):
        pic.aggregate_pic([fake_result([0, 1]), fake_result([0, 0.5, 1])])
    with pytest.raises(ValueError, match="no curves"):
        pic.aggregate_pic([])


def test_curve_passes_through_its_points_and_the_auc_is_its_integral():
    image = natural_image(64, 0)
    model = EdgeModel(image, centre_region(64))
    result = pic.compute_pic(image, smooth_map(64, 1), pic.random_mask((64, 64), seed=0), model.sic)
    assert result.thresholds.tolist() == [0.0, *pic.DEFAULT_THRESHOLDS, 1.0]
    assert len(result.curve_x) == 1001 and result.curve_x[0] == 0.0 and result.curve_x[-1] == 1.0
    assert result.curve_y[0] == 0.0 and result.curve_y[-1] == 1.0
    x, y = result.normalized_entropies, result.normalized_predictions
    unique = np.flatnonzero((np.sum(x[:, None] == x[None, :], axis=1) == 1) & (x > 0) & (x < 1))
    assert len(unique) > 3
    for i in unique:  # the sampled curve rises through each point
        below = np.searchsorted(result.curve_x, x[i], side="right") - 1
        assert result.curve_y[below] <= y[i] <= result.curve_y[below + 1]
    assert np.all(np.diff(result.curve_y) >= 0)
    # Trapezoids on 1001 samples of the polyline through the points: close to its integral.
    xs = np.concatenate([[0.0], x, [1.0]])
    ys = np.concatenate([[0.0], y, [1.0]])
    order = np.argsort(xs, kind="stable")
    assert result.auc == pytest.approx(np.trapezoid(ys[order], xs[order]), abs=5e-3)


def test_a_map_of_what_the_model_reads_beats_a_random_map():
    for seed in range(2):
        image = natural_image(64, seed)
        region = centre_region(64)
        model = EdgeModel(image, region)
        mask = pic.random_mask((64, 64), seed=seed)
        for metric in (model.sic, model.aic):
            oracle = pic.compute_pic(image, oracle_map(image, region), mask, metric)
            random = pic.compute_pic(image, noisy_map(64, seed + 100), mask, metric)
            assert oracle.auc > random.auc + 0.1


def test_random_mask_is_seeded_and_exact():
    first = pic.random_mask((50, 40), seed=3)
    assert first.shape == (50, 40) and first.dtype == bool
    assert first.sum() == 20  # int(2000 * 0.01)
    np.testing.assert_array_equal(first, pic.random_mask((50, 40), seed=3))
    assert not np.array_equal(first, pic.random_mask((50, 40), seed=4))
    assert pic.random_mask((50, 40), fraction=0.1, seed=0).sum() == 200
    assert not pic.random_mask((50, 40), fraction=0.0, seed=0).any()

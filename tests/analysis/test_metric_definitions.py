"""Every metric on small maps whose value is worked out here from its definition (MIT's
``code_forMetrics``), plus the known answers: identical, inverted and noisy maps."""

import itertools
import math

import numpy as np
import pytest

from analysis import metrics


def mit_judd_sweep(values: np.ndarray, fixations: np.ndarray) -> float:
    """AUC_Judd.m as written, for maps without ties: thresholds at the fixated values,
    descending; tp = i / N; fp = (count >= threshold - i) / (pixels - N); trapezoids."""
    values, fixations = values.ravel(), fixations.ravel()
    n_pos, n = int(fixations.sum()), values.size
    tp, fp = [0.0], [0.0]
    for i, threshold in enumerate(sorted(values[fixations], reverse=True), start=1):
        tp.append(i / n_pos)
        fp.append((np.sum(values >= threshold) - i) / (n - n_pos))
    tp.append(1.0)
    fp.append(1.0)
    return sum((fp[j + 1] - fp[j]) * (tp[j + 1] + tp[j]) / 2 for j in range(len(tp) - 1))


# --- hand-computed cases --------------------------------------------------------------------


def test_cc_of_a_hand_computed_case():
    # deviations from the means 2.5 and 2.75: s (-1.5,-0.5,0.5,1.5), h (-1.75,0.25,-0.75,2.25)
    s = np.array([[1.0, 2.0], [3.0, 4.0]])
    h = np.array([[1.0, 3.0], [2.0, 5.0]])
    expected = 5.5 / math.sqrt(5.0 * 8.75)  # sum of products / sqrt(sum of squares each)
    assert metrics.cc(s, h) == pytest.approx(expected, abs=1e-12)


def test_sim_min_max_normalises_then_sums_to_one():
    # s -> (0, 1/3, 2/3, 1) -> /2 -> (0, 1/6, 1/3, 1/2); h (3,0,0,1) -> (1,0,0,1/3) -> /(4/3)
    # -> (3/4, 0, 0, 1/4); the pixel-wise minimum sums to 1/4.
    s = np.array([[0.0, 1.0], [2.0, 3.0]])
    h = np.array([[3.0, 0.0], [0.0, 1.0]])
    assert metrics.sim(s, h) == pytest.approx(0.25, abs=1e-12)
    # A raised floor does not help (pysaliency's SIM, without min-max, would score it higher).
    assert metrics.sim(s + 10, h) == pytest.approx(0.25, abs=1e-12)


def test_kld_of_a_hand_computed_case():
    # P uniform 1/4; Q = (1/2, 0, 0, 1/2): 2 * 1/2 * log(eps + (1/2) / (1/4 + eps)) ~ log 2
    s = np.ones((2, 2))
    h = np.array([[1.0, 0.0], [0.0, 1.0]])
    eps = 2.2204e-16
    expected = 2 * 0.5 * math.log(eps + 0.5 / (0.25 + eps))
    assert metrics.kld(s, h) == pytest.approx(expected, abs=1e-15)
    assert metrics.EPS == 2.2204e-16


def test_kld_puts_mass_missed_by_the_model_at_a_large_cost():
    h = np.array([[1.0, 1.0]])
    s = np.array([[1.0, 0.0]])
    eps = 2.2204e-16
    expected = 0.5 * math.log(eps + 0.5 / (1 + eps)) + 0.5 * math.log(eps + 0.5 / eps)
    assert metrics.kld(s, h) == pytest.approx(expected, rel=1e-12)


def test_nss_z_scores_with_the_n_minus_1_standard_deviation():
    s = np.array([[0.0, 1.0], [2.0, 3.0]])
    fixations = np.array([[False, False], [False, True]])
    # mean 1.5; Matlab std: sqrt((2.25 + 0.25 + 0.25 + 2.25) / 3)
    expected = (3.0 - 1.5) / math.sqrt(5.0 / 3.0)
    assert metrics.nss(s, fixations) == pytest.approx(expected, abs=1e-12)


def test_nss_binarises_the_human_map_at_its_top_k():
    s = np.arange(10, dtype=float).reshape(2, 5)
    h = np.array([[0, 0, 0, 0, 0], [0, 0, 9, 1, 2]], dtype=float)  # top 10 %: pixel 7 only
    z = (s - s.mean()) / s.std(ddof=1)
    assert metrics.nss(s, h, k=0.1) == pytest.approx(z.ravel()[7], abs=1e-12)


def test_auc_judd_of_hand_computed_cases():
    fixations = np.array([[False, True, False, True]])
    # positives 0.4 and 0.8 above both negatives: a perfect ranking
    assert metrics.auc_judd(np.array([[0.1, 0.4, 0.35, 0.8]]), fixations) == pytest.approx(1.0)
    # thresholds 0.8: (fp 0, tp 1/2); 0.4: three pixels above, (fp 1/2, tp 1):
    # area = 1/2 * (1/2 + 1) / 2 + 1/2 * 1 = 0.875
    s = np.array([[0.1, 0.4, 0.5, 0.8]])
    assert metrics.auc_judd(s, fixations) == pytest.approx(0.875)
    assert mit_judd_sweep(s, fixations) == pytest.approx(0.875)


def test_auc_judd_equals_mits_sweep_on_maps_without_ties():
    rng = np.random.default_rng(3)
    for _ in range(5):
        s = rng.random((9, 11))
        fixations = rng.random((9, 11)) < 0.2
        assert metrics.auc_judd(s, fixations) == pytest.approx(mit_judd_sweep(s, fixations), abs=1e-12)


def test_auc_judd_with_ties_is_mits_score_averaged_over_every_tie_break():
    # Three pixels tie at 0.5 (one fixated); MIT's jitter orders them at random. Average the
    # literal sweep over all 3! orders of the tie, made explicit with tiny offsets.
    s = np.array([[0.5, 0.5, 0.5, 0.9, 0.2, 0.7]])
    fixations = np.array([[True, False, False, True, False, False]])
    scores = []
    for order in itertools.permutations(range(3)):
        broken = s.copy()
        broken[0, :3] += np.array(order) * 1e-9
        scores.append(mit_judd_sweep(broken, fixations))
    assert metrics.auc_judd(s, fixations) == pytest.approx(np.mean(scores), abs=1e-12)


def test_auc_judd_with_jitter_is_mits_literal_random_version():
    s = np.array([[0.5, 0.5, 0.5, 0.9, 0.2, 0.7]])
    fixations = np.array([[True, False, False, True, False, False]])
    draws = [metrics.auc_judd(s, fixations, jitter=seed) for seed in range(400)]
    assert set(np.round(draws, 12)) <= {0.75, 0.875, 1.0} or len(set(np.round(draws, 9))) > 1
    assert np.mean(draws) == pytest.approx(metrics.auc_judd(s, fixations), abs=0.02)


def test_auc_borji_hand_case():
    # A binary map whose fixations are exactly its 1s: tp = 1 at every threshold above 0; the
    # random negatives land on 1s with probability p = 1/4, so with a share f of them there,
    # the curve is (0,0) -> (f, 1) -> (1, 1) and the area 1 - f/2: expected 1 - p/2.
    s = np.zeros((8, 8))
    s[:4, :4] = 1.0
    fixations = s > 0
    p = 16 / 64
    value = metrics.auc_borji(s, fixations, n_splits=20000, rng=1)
    assert value == pytest.approx(1 - p / 2, abs=0.002)


def test_auc_borji_draws_like_mits_uniform_index_sampling():
    # MIT: randi over all pixels, as many as fixations, per split. Our multinomial bin counts
    # must give the same distribution: compare the means of many splits.
    rng = np.random.default_rng(5)
    s = rng.random((12, 12))
    fixations = rng.random((12, 12)) < 0.15
    values = (s - s.min()) / (s.max() - s.min())
    thresholds = np.arange(11) / 10
    sth = values[fixations]
    n_pos = sth.size
    areas = []
    for _ in range(4000):
        randfix = values.ravel()[rng.integers(0, values.size, n_pos)]
        tp = [0.0] + [np.mean(sth >= t) for t in thresholds[::-1]] + [1.0]
        fp = [0.0] + [np.mean(randfix >= t) for t in thresholds[::-1]] + [1.0]
        areas.append(np.trapezoid(tp, fp))
    ours = metrics.auc_borji(s, fixations, n_splits=4000, rng=2)
    assert ours == pytest.approx(np.mean(areas), abs=4 * np.std(areas) / np.sqrt(4000) * 1.5)


def test_auc_borji_is_seeded_by_default():
    s = np.random.default_rng(0).random((10, 10))
    h = np.random.default_rng(1).random((10, 10))
    assert metrics.auc_borji(s, h) == metrics.auc_borji(s, h)
    assert metrics.auc_borji(s, h, rng=1) != metrics.auc_borji(s, h, rng=2)


def test_topk_dice_of_a_hand_computed_case():
    # top 30 % of 10 pixels: s picks {7,8,9}, h picks {6,7,8}: Dice = 2 * 2 / (3 + 3)
    s = np.arange(10, dtype=float).reshape(2, 5)
    h = np.array([0, 0, 0, 0, 0, 0, 5, 6, 7, 1], dtype=float).reshape(2, 5)
    assert metrics.topk_dice(s, h, k=0.3) == pytest.approx(4 / 6)


def test_emd_moves_mass_by_euclidean_grid_distance():
    # one unit of mass from the left cell to the right one, two cells away
    assert metrics.emd(
        np.array([[0.0, 0.0, 1.0]]), np.array([[1.0, 0.0, 0.0]]), grid=(1, 3), match_histogram=False
    ) == pytest.approx(2.0)
    # diagonal: sqrt(2)
    assert metrics.emd(
        np.array([[1.0, 0.0], [0.0, 0.0]]),
        np.array([[0.0, 0.0], [0.0, 1.0]]),
        grid=(2, 2),
        match_histogram=False,
    ) == pytest.approx(math.sqrt(2))
    # half the mass moves 2 cells, half moves 1
    assert metrics.emd(
        np.array([[1.0, 1.0, 0.0]]), np.array([[0.0, 0.0, 1.0]]), grid=(1, 3), match_histogram=False
    ) == pytest.approx(1.5)


def test_emd_matches_the_saliency_histogram_to_the_human_one_first():
    s = np.array([[0.2, 0.9]])
    h = np.array([[1.0, 0.0]])
    # matched: s takes h's values by rank, (0, 1): all mass one cell from h's
    assert metrics.emd(s, h, grid=(1, 2)) == pytest.approx(1.0)
    # unmatched: s as (0.2, 0.9) / 1.1; 0.9/1.1 of it moves one cell
    assert metrics.emd(s, h, grid=(1, 2), match_histogram=False) == pytest.approx(0.9 / 1.1)


def test_emd_downsamples_by_area_to_mits_one_32nd_by_default():
    from analysis.emd import default_grid, downsample

    assert default_grid((224, 224)) == (7, 7)
    assert default_grid((480, 640)) == (15, 20)
    x = np.arange(16, dtype=float).reshape(4, 4)
    expected = np.array(
        [[(0 + 1 + 4 + 5) / 4, (2 + 3 + 6 + 7) / 4], [(8 + 9 + 12 + 13) / 4, (10 + 11 + 14 + 15) / 4]]
    )
    np.testing.assert_allclose(downsample(x, (2, 2)), expected)
    # a pixel straddling two cells is shared: 3 pixels onto 2 cells, cell 0 = (x0 + x1/2) / 1.5
    np.testing.assert_allclose(
        downsample(np.array([[3.0, 6.0, 9.0]]), (1, 2)), [[(3 + 3) / 1.5, (3 + 9) / 1.5]]
    )


def test_emd_network_simplex_and_linear_programme_agree():
    from analysis import emd

    rng = np.random.default_rng(4)
    distance = emd.ground_distance((4, 5))
    for _ in range(3):
        p, q = rng.random(20), rng.random(20) ** 3
        p, q = p / p.sum(), q / q.sum()
        assert emd.transport_cost(p, q, distance) == pytest.approx(
            emd._transport_cost_linprog(p, q, distance), abs=1e-9
        )


# --- known answers -------------------------------------------------------------------------


@pytest.fixture
def smooth_map():
    y, x = np.mgrid[0:48, 0:64]
    return np.exp(-((x - 40) ** 2 + (y - 20) ** 2) / 200.0) + 0.5 * np.exp(
        -((x - 15) ** 2 + (y - 30) ** 2) / 80.0
    )


def test_identical_maps_score_perfectly(smooth_map):
    m = smooth_map
    assert metrics.spearman(m, m) == pytest.approx(1.0)
    assert metrics.cc(m, m) == pytest.approx(1.0)
    assert metrics.sim(m, m) == pytest.approx(1.0)
    assert metrics.kld(m, m) == pytest.approx(0.0, abs=1e-12)
    assert metrics.topk_iou(m, m) == 1.0 and metrics.topk_dice(m, m) == 1.0
    assert metrics.emd(m, m) == pytest.approx(0.0, abs=1e-12)
    assert metrics.auc_judd(m, m) > 0.99 and metrics.auc_borji(m, m) > 0.9
    assert metrics.nss(m, m) > 1.5


def test_inverted_maps_score_as_badly_as_possible(smooth_map):
    m = smooth_map
    inverted = m.max() - m
    assert metrics.spearman(inverted, m) == pytest.approx(-1.0)
    assert metrics.cc(inverted, m) == pytest.approx(-1.0)
    assert metrics.topk_iou(inverted, m) == 0.0
    assert metrics.auc_judd(inverted, m) < 0.05
    assert metrics.nss(inverted, m) < -1.5
    assert metrics.sim(inverted, m) < metrics.sim(m, m)
    assert metrics.kld(inverted, m) > 1.0


def test_noise_makes_every_similarity_worse_but_not_chance(smooth_map):
    m = smooth_map
    noisy = m + 0.3 * np.random.default_rng(0).random(m.shape)
    for name in ("spearman", "cc", "sim"):
        value = getattr(metrics, name)(noisy, m)
        assert 0.3 < value < 1.0, name
    assert 0 < metrics.kld(noisy, m)
    # (on MIT's default 2x2 grid for 48x64 the noise averages out: the cells keep their order
    # and histogram matching makes the distance 0; a finer grid sees it)
    assert metrics.emd(noisy, m) == pytest.approx(0.0, abs=1e-12)
    assert 0 < metrics.emd(noisy, m, grid=(12, 16))
    assert 0.5 < metrics.auc_judd(noisy, m) < 1.0


def test_a_constant_map_is_undefined_where_mit_divides_by_zero():
    flat = np.full((6, 6), 0.3)
    other = np.random.default_rng(0).random((6, 6))
    for name in ("spearman", "cc", "nss", "auc_borji"):
        assert np.isnan(getattr(metrics, name)(flat, other)), name
    assert np.isnan(metrics.sim(flat, other))  # MIT: (c - c) / 0
    assert metrics.sim(np.zeros((6, 6)), other) == 0.0  # MIT: a zero map stays zero
    # jittered, a constant map is a random order: Mann-Whitney 1/2, and the lowest of N
    # fixations has on average N/(N+1) of the negatives above it: 1/2 + 1/(2(N+1))
    n = int(metrics.fixation_mask(other).sum())
    assert metrics.auc_judd(flat, other) == pytest.approx(0.5 + 1 / (2 * (n + 1)), abs=1e-12)

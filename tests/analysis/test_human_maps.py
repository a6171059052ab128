import numpy as np
import pytest

from analysis.human_maps import (
    bilinear_matrix,
    harmonization_blur,
    harmonization_taps,
    mean_map,
    normalise_participant,
)


def test_the_three_normalisations_by_hand():
    m = np.array([[0.0, 2.0], [2.0, 4.0]])
    np.testing.assert_allclose(normalise_participant(m, "minmax"), [[0, 0.5], [0.5, 1]])
    np.testing.assert_allclose(normalise_participant(m, "sum"), [[0, 0.25], [0.25, 0.5]])
    # average ranks 1, 2.5, 2.5, 4 -> (r - 1) / 3
    np.testing.assert_allclose(normalise_participant(m, "rank"), [[0, 0.5], [0.5, 1]])
    np.testing.assert_allclose(
        normalise_participant(np.array([[0.0, 1.0], [3.0, 9.0]]), "rank"), [[0, 1 / 3], [2 / 3, 1]]
    )
    for method in ("minmax", "sum", "rank"):
        assert not normalise_participant(np.full((3, 3), 7.0), method).any()
    with pytest.raises(ValueError, match="normalisation"):
        normalise_participant(m, "zscore")


def test_mean_map_leaves_out_flagged_participants():
    a = np.array([[0.0, 1.0]])
    b = np.array([[1.0, 0.0]])
    flagged = np.array([[5.0, 0.0]])
    np.testing.assert_allclose(mean_map([a, b, flagged], include=[True, True, False]), [[0.5, 0.5]])
    np.testing.assert_allclose(mean_map([a, b, flagged]), [[2 / 3, 1 / 3]])
    np.testing.assert_allclose(mean_map([a, b], normalise="sum"), [[0.5, 0.5]])
    with pytest.raises(ValueError, match="no maps"):
        mean_map([a], include=[False])
    with pytest.raises(ValueError, match="one flag per map"):
        mean_map([a, b], include=[True])


def test_tensorflow_bilinear_resize_by_hand():
    # half-pixel centres, no antialiasing: 4 -> 2 samples between pixels 0,1 and 2,3
    np.testing.assert_allclose(bilinear_matrix(4, 2), [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    # 2 -> 4: output 0 maps to input -0.25, clamped to pixel 0; output 1 to 0.25
    np.testing.assert_allclose(bilinear_matrix(2, 4), [[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]])
    np.testing.assert_allclose(bilinear_matrix(5, 5), np.eye(5))


def test_harmonization_kernel_taps():
    rows, cols = harmonization_taps(10, 10.0)
    # Harmonization's blur.py: x = range(-5, 5) across, y = range(4, -6, -1) down
    np.testing.assert_allclose(cols, np.exp(-(np.arange(-5, 5) ** 2) / 200.0))
    np.testing.assert_allclose(rows, np.exp(-(np.arange(4, -6, -1) ** 2) / 200.0))


def test_harmonization_blur_is_tensorflows_same_convolution_with_their_kernel():
    # At the grid size the resizes are the identity: what is left must equal conv2d(SAME)
    # with their 10x10 kernel, computed here literally (pad 4 before, 5 after, zeros).
    rng = np.random.default_rng(2)
    grid = (16, 20)
    x = rng.random(grid)
    xs, ys = np.meshgrid(np.arange(-5, 5), np.arange(4, -6, -1))
    kernel = np.exp(-(xs**2 + ys**2) / (2 * 10.0**2)) / (2 * np.pi * 10.0**2)
    kernel /= kernel.sum()
    padded = np.pad(x, ((4, 5), (4, 5)))
    expected = np.zeros(grid)
    for i in range(grid[0]):
        for j in range(grid[1]):
            expected[i, j] = (padded[i : i + 10, j : j + 10] * kernel).sum()
    np.testing.assert_allclose(harmonization_blur(x, grid=grid), expected, atol=1e-12)


def test_harmonization_blur_darkens_borders_and_shifts_by_half_a_grid_pixel():
    flat = np.ones((128, 128))
    blurred = harmonization_blur(flat)
    assert blurred[64, 64] == pytest.approx(1.0)
    assert blurred[0, 0] < 0.5  # zero padding
    impulse = np.zeros((64, 64))
    impulse[32, 32] = 1.0
    response = harmonization_blur(impulse)
    weights = response / response.sum()
    rows, cols = np.indices(response.shape)
    # output (i, j) reads inputs (i + d, j + d), d = -4..5: the impulse at (32, 32) lands
    # about half a pixel up and to the left
    assert (weights * rows).sum() == pytest.approx(31.5, abs=0.1)
    assert (weights * cols).sum() == pytest.approx(31.5, abs=0.1)


def test_blurred_mean_map_accepts_stacks():
    rng = np.random.default_rng(3)
    maps = rng.random((3, 40, 30))
    stacked = harmonization_blur(maps)
    np.testing.assert_allclose(stacked[1], harmonization_blur(maps[1]))
    np.testing.assert_allclose(mean_map(list(maps), blur=True), harmonization_blur(mean_map(list(maps))))

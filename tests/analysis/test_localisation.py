import numpy as np
import pytest

from analysis.localisation import box_and_control_shares, box_mask, control_box, region_mass_share


def test_box_mask_covers_left_top_inclusive_right_bottom_exclusive():
    mask = box_mask((1, 0, 3, 2), width=4, height=3)
    assert mask.tolist() == [
        [False, True, True, False],
        [False, True, True, False],
        [False, False, False, False],
    ]


@pytest.mark.parametrize("box", [(0, 0, 5, 2), (2, 1, 2, 3), (-1, 0, 2, 2)])
def test_a_box_outside_the_image_or_empty_is_refused(box):
    with pytest.raises(ValueError, match="not inside the 4x3 image"):
        box_mask(box, width=4, height=3)


def test_share_is_the_regions_part_of_the_total():
    saliency_map = np.array([[1.0, 2.0], [3.0, 4.0]])
    region = np.array([[True, False], [False, False]])
    assert region_mass_share(saliency_map, region) == pytest.approx(1 / 10)
    assert region_mass_share(saliency_map, ~region) == pytest.approx(9 / 10)


def test_negative_values_count_as_zero_inside_and_outside():
    saliency_map = np.array([[-5.0, 1.0], [1.0, 2.0]])
    # Positive mass 1 + 1 + 2 = 4; the -5 adds nothing anywhere.
    assert region_mass_share(saliency_map, np.array([[True, True], [False, False]])) == pytest.approx(1 / 4)
    assert region_mass_share(saliency_map, np.array([[True, False], [False, False]])) == 0.0


def test_a_map_of_another_size_is_resized_bilinearly_to_the_region():
    # Columns 1 and 3 upsampled 2x with half-pixel centres and clamped edges give columns
    # 1, 1.5, 2.5, 3 per row: the left half holds 2.5 of 8.
    saliency_map = np.array([[1.0, 3.0], [1.0, 3.0]])
    left_half = np.zeros((4, 4), dtype=bool)
    left_half[:, :2] = True
    assert region_mass_share(saliency_map, left_half) == pytest.approx(2.5 / 8, abs=1e-6)


def test_a_map_without_positive_mass_has_no_share():
    region = np.ones((3, 3), dtype=bool)
    assert np.isnan(region_mass_share(np.zeros((3, 3)), region))
    assert np.isnan(region_mass_share(-np.ones((3, 3)), region))


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="boolean"):
        region_mass_share(np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="2-D"):
        region_mass_share(np.ones((1, 2, 2)), np.ones((2, 2), dtype=bool))
    with pytest.raises(ValueError, match="non-finite"):
        region_mass_share(np.array([[np.nan, 1.0]]), np.ones((1, 2), dtype=bool))


def test_the_control_of_a_corner_box_is_the_opposite_corner():
    assert control_box((3, 3, 13, 13), 64, 64) == (51, 51, 61, 61)
    assert control_box((51, 3, 61, 13), 64, 64) == (3, 51, 13, 61)


def test_a_box_on_the_centre_lines_gets_an_image_corner():
    # Its reflection and both mirrors are itself; the first corner is free.
    assert control_box((28, 28, 36, 36), 64, 64) == (0, 0, 8, 8)


def test_a_box_too_large_to_have_a_control_is_refused():
    with pytest.raises(ValueError, match="fits elsewhere"):
        control_box((10, 10, 54, 54), 64, 64)


def test_controls_are_the_same_size_inside_the_image_and_apart():
    rng = np.random.default_rng(0)
    for _ in range(500):
        width, height = rng.integers(8, 100, size=2)
        w, h = rng.integers(1, width // 2 + 1), rng.integers(1, height // 2 + 1)
        left, top = rng.integers(0, width - w + 1), rng.integers(0, height - h + 1)
        box = (int(left), int(top), int(left + w), int(top + h))
        room = left >= w or width - box[2] >= w or top >= h or height - box[3] >= h
        if not room:  # no same-sized region can sit apart from it
            with pytest.raises(ValueError):
                control_box(box, int(width), int(height))
            continue
        control = control_box(box, int(width), int(height))
        assert (control[2] - control[0], control[3] - control[1]) == (w, h)
        assert not (box_mask(box, width, height) & box_mask(control, width, height)).any()
        assert control_box(box, int(width), int(height)) == control  # deterministic


def test_box_and_control_shares_on_a_hand_made_map():
    saliency_map = np.zeros((8, 8))
    saliency_map[0:2, 0:2] = 3.0  # 12 on the box
    saliency_map[6:8, 6:8] = 1.0  # 4 on its control, the opposite corner
    saliency_map[4, 0] = 4.0  # 4 elsewhere
    assert box_and_control_shares(saliency_map, (0, 0, 2, 2), 8, 8) == pytest.approx((0.6, 0.2))

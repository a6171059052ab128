import numpy as np
import pytest
import torch
from saliency.core import xrai as pair_xrai

from explain import saliency
from explain.saliency import registry
from explain.saliency.xrai_segments import Segments, _dilated_label_pixels, xrai_segments
from tests.saliency.helpers import pair_call_model_function, sample_image, tiny_cnn


@pytest.fixture(scope="module")
def image():
    return sample_image()


@pytest.fixture(scope="module")
def pair_masks(image):
    return pair_xrai._get_segments_felzenszwalb(image.transpose(1, 2, 0))


def test_segments_are_the_same_masks_as_pairs(image, pair_masks):
    ours = xrai_segments(image.transpose(1, 2, 0)).to_masks()
    assert len(ours) == len(pair_masks) > 50
    for mine, theirs in zip(ours, pair_masks):
        np.testing.assert_array_equal(mine, theirs)


def test_segments_of_a_non_square_image_are_pairs_masks():
    from skimage import data

    # 150x200: segmented at 224x224, the label maps are resized to a non-square shape.
    image_hwc = data.coffee()[:300:2, ::3].astype(np.float32) / 127.5 - 1.0
    ours = xrai_segments(image_hwc).to_masks()
    theirs = pair_xrai._get_segments_felzenszwalb(image_hwc)
    assert len(ours) == len(theirs)
    for mine, expected in zip(ours, theirs):
        np.testing.assert_array_equal(mine, expected)


@pytest.mark.parametrize("radius", [0, 1, 2, 5, 8])
@pytest.mark.parametrize(
    "labels",
    [
        np.random.default_rng(0).integers(3, 9, size=(37, 53)),  # labels from 3, scattered pixels
        np.kron(np.random.default_rng(1).integers(0, 30, size=(8, 6)), np.ones((7, 9), int)),  # gaps
        np.full((5, 4), 4),
        np.random.default_rng(2).integers(0, 2, size=(1, 30)),
        np.random.default_rng(3).integers(0, 4, size=(30, 1)),
    ],
)
def test_one_sweep_dilation_equals_scipys_per_label(labels, radius):
    from scipy import ndimage
    from skimage.morphology import disk

    pixels = _dilated_label_pixels(labels, radius)
    assert len(pixels) == labels.max() - labels.min() + 1
    for offset, indices in enumerate(pixels):
        expected = ndimage.binary_dilation(labels == labels.min() + offset, structure=disk(radius))
        assert indices.dtype == np.int64
        np.testing.assert_array_equal(indices, np.flatnonzero(expected))


@pytest.mark.parametrize("algorithm", ["full", "fast"])
def test_xrai_equals_pairs_given_the_same_attribution_and_segments(image, pair_masks, algorithm):
    rng = np.random.default_rng(1)
    # Smooth random attributions so that regions differ clearly, plus fine noise.
    coarse = rng.normal(size=(3, 14, 14)).repeat(16, axis=1).repeat(16, axis=2)
    attribution = (coarse + 0.1 * rng.normal(size=(3, 224, 224))).astype(np.float32)

    parameters = pair_xrai.XRAIParameters(algorithm=algorithm)
    parameters.return_xrai_segments = True
    expected = pair_xrai.XRAI().GetMaskWithDetails(
        image.transpose(1, 2, 0),
        call_model_function=None,
        segments=pair_masks,
        base_attribution=attribution.transpose(1, 2, 0),
        extra_parameters=parameters,
    )
    result = saliency.xrai_result(
        None, image[None], [0], base_attribution=attribution[None], segments=pair_masks, algorithm=algorithm
    )
    np.testing.assert_allclose(result.maps[0], expected.attribution_mask, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(result.details[0]["ranks"], expected.segments)


def test_xrai_end_to_end_matches_pairs_map():
    model = tiny_cnn(seed=3)
    image = sample_image()
    target = 2
    expected = pair_xrai.XRAI().GetMask(
        image.transpose(1, 2, 0), pair_call_model_function(model, target), batch_size=25
    )
    ours = saliency.xrai(model, image[None], [target])[0]
    assert np.corrcoef(ours.ravel(), expected.ravel())[0, 1] >= 0.999


def test_xrai_region_values_are_mean_attributions_of_their_pixels(image):
    attribution = np.random.default_rng(2).normal(size=(1, 224, 224)).astype(np.float32)
    result = saliency.xrai_result(None, image[None], [0], base_attribution=attribution)
    ranks = result.details[0]["ranks"]
    assert ranks.min() == 1
    # The top-ranked region is the first one chosen: its value is the highest in the map.
    assert result.maps[0][ranks == 1].max() == pytest.approx(result.maps[0].max())


def test_segments_accepts_pair_masks_and_rejects_wrong_shapes(image):
    masks = [np.ones((10, 10), bool)]
    assert Segments.from_masks(masks).shape == (10, 10)
    with pytest.raises(ValueError, match="do not match"):
        saliency.xrai_result(None, image[None], [0], base_attribution=np.zeros((1, 224, 224)), segments=masks)


def test_unknown_method_names_the_known_ones():
    with pytest.raises(ValueError, match="integrated_gradients"):
        saliency.compute("nope", tiny_cnn(), torch.zeros(1, 3, 8, 8), [0])


def test_every_registered_method_returns_finite_maps_of_the_input_size():
    model = tiny_cnn(seed=4)
    images = torch.tensor(np.random.default_rng(3).normal(size=(2, 3, 32, 32)), dtype=torch.float32)
    quick = {
        "xrai": {"steps": 3},
        "integrated_gradients": {"steps": 3},
        "smoothgrad": {"nsamples": 2},
        "blur_ig": {"steps": 3},
        "guided_ig": {"steps": 3},
        "occlusion": {"patch_size": 8, "stride": 8},
    }
    for method in registry.method_names():
        params = registry.method_params(method, quick.get(method))
        if method == "xrai":  # 32x32 has too few pixels for its 50-pixel regions to matter
            params["min_pixel_diff"] = 1
        result = saliency.compute_result(method, model, images, [0, 1], **params)
        assert result.maps.shape == (2, 32, 32) and result.maps.dtype == np.float32, method
        assert np.isfinite(result.maps).all(), method
        assert len(result.details) == 2, method


def test_xrai_with_a_completeness_target_reports_the_points_each_baseline_needed():
    model = tiny_cnn(seed=3)
    image = sample_image(size=64)
    result = saliency.xrai_result(
        model, image[None], [2], steps={"max_gap": 0.05, "initial": 8, "limit": 128}
    )
    entries = result.details[0]["integrated_gradients"]
    assert [e["baseline"] for e in entries] == ["min", "max"]
    for entry in entries:
        assert entry["steps_used"] in (8, 16, 32, 64, 128)
        assert entry["completeness_gap"] <= 0.05 or entry["steps_used"] == 128

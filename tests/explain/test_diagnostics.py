"""explain.diagnostics on models small enough to reason about.

PIC, insertion and deletion run on a hand-built "texture detector": its class-1 logit grows with
the image's 2 x 2 checkerboard energy, and the generated image holds a checkerboard only in one
square (the object) on a smooth, informative background. The map that ranks the square first
(the oracle) must then beat a random map on every curve: known behaviour, not stored numbers.
The randomisation test runs on tests/saliency/helpers.tiny_cnn: after its logits are
re-initialised the vanilla gradient changes (Adebayo et al.'s finding for gradients).
"""

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from scipy import ndimage

from analysis.pic import NOT_CONFIDENT
from catalogue.models import Image
from explain import diagnostics
from explain.model_zoo import LoadedModel
from tests.saliency.helpers import tiny_cnn

SIZE = 64
SQUARE = (slice(20, 36), slice(24, 40))  # rows, columns of the textured object


def object_mask() -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[SQUARE] = True
    return mask


def textured_image() -> np.ndarray:
    rng = np.random.default_rng(3)
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    base = np.stack([60 + 2 * rows, 90 + cols, 160 - rows], axis=-1).astype(np.float64)
    blobs = ndimage.gaussian_filter(rng.normal(0, 1, (SIZE, SIZE, 3)), sigma=(2.5, 2.5, 0))
    image = base + 40 * blobs / blobs.std()
    checker = np.where((rows + cols) % 2 == 0, 60.0, -60.0)
    image[SQUARE] = 128 + checker[SQUARE][:, :, None]
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


class TextureDetector(torch.nn.Module):
    """logits = [0, gain * (checker energy - offset)]; the energy is the mean |2 x 2 checker
    filter| of the grey image."""

    def __init__(self, offset: float = 0.0, gain: float = 1.0):
        super().__init__()
        kernel = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).reshape(1, 1, 2, 2)
        self.kernel = torch.nn.Parameter(kernel, requires_grad=False)
        self.offset, self.gain = offset, gain

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        grey = x.mean(dim=1, keepdim=True)
        return torch.nn.functional.conv2d(grey, self.kernel).abs().mean(dim=(1, 2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = self.gain * (self.energy(x) - self.offset)
        return torch.stack([torch.zeros_like(score), score], dim=1)


def loaded_model(module: torch.nn.Module, classes: int = 2) -> LoadedModel:
    return LoadedModel(
        module=module.eval(),
        input_size=SIZE,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        class_names=tuple(f"c{i}" for i in range(classes)),
        weights_sha256="test",
    )


@pytest.fixture(scope="module")
def detector() -> LoadedModel:
    """The detector calibrated so that the original image scores ~0.99 for class 1 and its
    fully blurred version (analysis.pic's, 1 % random pixels) ~0.01."""
    from analysis.pic import blur_image, random_mask

    image = textured_image()
    blurred = blur_image(image, random_mask((SIZE, SIZE), seed=0))
    loaded = loaded_model(TextureDetector())
    energies = loaded.module.energy(diagnostics._normalised_batch(loaded, np.stack([image, blurred])))
    high, low = float(energies[0]), float(energies[1])
    assert high > 3 * low  # the texture is what the blur removes
    loaded.module.offset, loaded.module.gain = (high + low) / 2, 10.0 / (high - low)
    return loaded


def oracle_map() -> np.ndarray:
    """1 on the object, decreasing with the distance from it outside."""
    distance = ndimage.distance_transform_edt(~object_mask())
    return 1.0 - distance / distance.max() * 0.5 - 0.5 * (distance > 0)


def random_map(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random((SIZE, SIZE))


def test_model_input_image_is_what_preprocess_normalises():
    loaded = loaded_model(TextureDetector())
    picture = PILImage.fromarray(textured_image()).resize((97, 80))
    pixels = diagnostics.model_input_image(loaded, picture)
    assert pixels.shape == (SIZE, SIZE, 3) and pixels.dtype == np.uint8
    expected = loaded.preprocess(picture)[None]
    assert torch.allclose(diagnostics._normalised_batch(loaded, pixels[None]), expected, atol=1e-6)


def test_probabilities_are_the_models_softmax(detector):
    image = textured_image()
    probabilities = diagnostics.class_probabilities(detector, image[None])
    assert probabilities.shape == (1, 2)
    assert probabilities[0, 1] > 0.99  # the calibration's gain: sigmoid(5)
    assert np.isclose(probabilities.sum(), 1.0)


def test_pic_oracle_map_beats_a_random_map(detector):
    image = textured_image()
    oracle = diagnostics.pic_curves(detector, image, oracle_map(), 1, mask_seed=0)
    random = diagnostics.pic_curves(detector, image, random_map(), 1, mask_seed=0)
    for kind in ("sic", "aic"):
        assert oracle[kind].skipped is None and random[kind].skipped is None
        assert oracle[kind].result.curve_x.shape == (1001,)
        assert oracle[kind].result.curve_y.shape == (1001,)
        assert oracle[kind].auc > random[kind].auc + 0.2, (kind, oracle[kind].auc, random[kind].auc)
    # AIC's scores are 0 / 1: correct on the original, wrong on the fully blurred image.
    assert set(oracle["aic"].result.predictions) <= {0.0, 1.0}
    assert oracle["aic"].result.predictions[0] == 0.0 and oracle["aic"].result.predictions[-1] == 1.0


def test_pic_takes_a_map_of_another_size(detector):
    """A human mean at the image's resolution: resized to the model's input size."""
    small = oracle_map()[::2, ::2]
    outcome = diagnostics.pic_curves(detector, textured_image(), small, 1, mask_seed=0)
    assert (
        outcome["sic"].auc
        > diagnostics.pic_curves(detector, textured_image(), random_map(), 1, mask_seed=0)["sic"].auc
    )


def test_pic_records_why_an_image_is_skipped(detector):
    """Class 0 scores ~0.01 on the original: below PIC's 0.8, so no curve and the reason."""
    outcome = diagnostics.pic_curves(detector, textured_image(), oracle_map(), 0, mask_seed=0)
    for kind in ("sic", "aic"):
        assert outcome[kind].result is None
        assert outcome[kind].skipped == NOT_CONFIDENT
        assert np.isnan(outcome[kind].auc)


def test_pic_mask_seed_decides_the_random_pixels(detector):
    image = textured_image()
    first = diagnostics.pic_curves(detector, image, random_map(), 1, mask_seed=5)["sic"].result
    again = diagnostics.pic_curves(detector, image, random_map(), 1, mask_seed=5)["sic"].result
    other = diagnostics.pic_curves(detector, image, random_map(), 1, mask_seed=6)["sic"].result
    assert np.array_equal(first.entropies, again.entropies)
    assert not np.array_equal(first.entropies, other.entropies)


def test_insertion_and_deletion_favour_the_oracle(detector):
    image = textured_image()
    oracle = diagnostics.perturbation_curves(detector, image, oracle_map(), 1)
    random = diagnostics.perturbation_curves(detector, image, random_map(), 1)
    # RISE's default: ceil(64 * 64 / 224) = 19 pixels a step, 216 steps, 217 points.
    assert oracle["deletion"].fractions.shape == (217,)
    assert oracle["deletion"].scores[0] > 0.99 and oracle["insertion"].scores[-1] > 0.99
    assert oracle["deletion"].auc < random["deletion"].auc - 0.2
    assert oracle["insertion"].auc > random["insertion"].auc + 0.2


def test_ground_truth_mask_from_the_stored_mask_or_the_boxes():
    from analysis.codec import mask_png

    with_boxes = Image(width=8, height=6, ground_truth_boxes=[[1, 2, 3, 4], [6, 0, 8, 1]])
    mask = diagnostics.ground_truth_mask(with_boxes)
    assert mask.shape == (6, 8) and mask.sum() == 4 + 2
    assert mask[2:4, 1:3].all() and mask[0, 6:8].all()
    stored = np.zeros((6, 8), dtype=bool)
    stored[5, 7] = True
    with_mask = Image(
        width=8, height=6, ground_truth_mask_png=mask_png(stored), ground_truth_boxes=[[0, 0, 8, 6]]
    )
    assert np.array_equal(diagnostics.ground_truth_mask(with_mask), stored)
    assert diagnostics.ground_truth_mask(Image(width=8, height=6)) is None


def test_localisation_of_a_map_at_another_resolution():
    """The oracle at half resolution, resized up to the mask: it ranks the object first
    (AUC 1 but at the resized border), its maximum lies in it, and an inverted map scores 1 - AUC."""
    mask = object_mask()
    small = oracle_map()[::2, ::2]
    scores = diagnostics.localisation_scores(small, mask)
    assert scores["pixel_auc"] > 0.97 and scores["pointing_game"] == 1.0 and scores["f1"] > 0.8
    inverted = diagnostics.localisation_scores(-small, mask)
    assert inverted["pixel_auc"] == pytest.approx(1 - scores["pixel_auc"])
    assert inverted["pointing_game"] == 0.0
    assert inverted["mae"] > scores["mae"]


def test_evaluated_steps_keep_the_logits_and_the_full_randomisation():
    assert diagnostics.evaluated_step_indices(10, 4) == [0, 3, 6, 9]
    assert diagnostics.evaluated_step_indices(3, 5) == [0, 1, 2]
    assert diagnostics.evaluated_step_indices(7, 2) == [0, 6]
    assert diagnostics.evaluated_step_indices(1, 4) == [0]


def test_parameter_layers_are_the_leaves_with_parameters():
    names = [name for name, _ in diagnostics.parameter_layers(tiny_cnn())]
    assert names == ["0", "2", "6"]  # two convolutions and the linear logits


def test_randomisation_changes_the_vanilla_gradient():
    model = tiny_cnn(seed=0, classes=5)
    loaded = loaded_model(model, classes=5)
    picture = PILImage.fromarray(textured_image())
    rows = diagnostics.randomisation_rows(
        loaded, picture, "vanilla_gradient", {}, 2, seed=0, evaluated_steps=3
    )
    assert [row["layer"] for row in rows] == ["6", "2", "0"]
    assert [row["layers_randomised"] for row in rows] == [1, 2, 3]
    assert all(row["layers_total"] == 3 for row in rows)
    assert rows[0]["spearman"] < 0.8  # the logits alone already change the map
    assert rows[-1]["spearman"] < 0.5 and rows[-1]["ssim"] < 0.5
    # The trained copy is untouched, and the same seed draws the same weights.
    assert torch.equal(next(model.parameters()), next(tiny_cnn(seed=0, classes=5).parameters()))
    again = diagnostics.randomisation_rows(
        loaded, picture, "vanilla_gradient", {}, 2, seed=0, evaluated_steps=3
    )
    assert [row["spearman"] for row in again] == [row["spearman"] for row in rows]


def test_randomisation_without_a_change_keeps_the_map():
    """Control: re-initialising nothing the map depends on leaves it identical (Spearman 1)."""

    class WithUnusedHead(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = tiny_cnn(seed=1, classes=3)
            self.unused = torch.nn.Linear(2, 2)  # the last leaf: the cascade's first step

        def forward(self, x):
            return self.body(x)

    loaded = loaded_model(WithUnusedHead(), classes=3)
    picture = PILImage.fromarray(textured_image())
    rows = diagnostics.randomisation_rows(loaded, picture, "vanilla_gradient", {}, 1, evaluated_steps=2)
    assert rows[0]["layer"] == "unused"
    assert rows[0]["spearman"] == pytest.approx(1.0) and rows[0]["ssim"] == pytest.approx(1.0)
    assert rows[-1]["spearman"] < 0.5

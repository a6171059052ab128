"""Faithfulness and sanity diagnostics of one saliency map on one image and model: does the map
show where the *model* looks? (issue 15). The pure metrics live in ``analysis.pic`` and
``analysis.faithfulness``; this module feeds them the model.

- PIC (``pic_curves``): the Softmax and Accuracy Information Curves of the XRAI paper. They run
  at the model's input resolution, as PAIR's examples do (224 or 299 pixels): the image is
  resized to S x S exactly as ``LoadedModel.preprocess`` resizes it (the whole image, the
  model's filter, uint8), so that a revealed-pixel image goes through the model unchanged but
  for the normalisation; the map is resized to S x S bilinearly (``analysis.human_maps.
  resize_map``), so any (H, W) map works, a human mean at the image's resolution included.
  SIC scores the softmax of the target class, AIC 1 / 0 for a top-1 prediction equal to the
  target / not. The random 1 % mask is seeded by the image (``mask_seed``, e.g. its id): every
  method on that image reveals the same random pixels. An image PIC cannot score is reported
  with PAIR's reason (``analysis.pic.PicSkipped``: not confident, blurring did not lower the
  information or the prediction) instead of a curve. SIC and AIC share their blurred images
  and entropies (``blur_cache``), and so do the maps of an image given the same cache: the
  fully blurred image, and any set of revealed pixels two maps share, is blurred once.
- Insertion / deletion (``perturbation_curves``): RISE's curves with its defaults (224 steps,
  deletion to black pixels, insertion from the Gaussian-blurred image), on the same S x S
  image and map, the target's softmax probability as the score.
- Localisation (``localisation_scores``): pixel AUC, F1 (top |mask| pixels), MAE and the
  pointing game against the catalogue's ground-truth mask, else the union of its boxes, at the
  image's own resolution (the map resized up, as the agreement metrics do). None without ground
  truth.
- Model-parameter randomisation (``randomisation_rows``): Adebayo et al.'s cascading test. The
  layers are the leaf modules that own parameters, in ``named_modules`` order; from the logits
  down, each step re-initialises one more of them (its ``reset_parameters()``, the framework's
  initialiser; ``torch.manual_seed(seed)`` first so a rerun draws the same weights) on a copy of
  the model. Recomputing the map after every step costs one map per layer (EfficientNet-Lite0
  has 50), so the map is recomputed only at ``evaluated_steps`` steps: the logits
  (step 1), the full randomisation (last step) and steps evenly spaced between them. The
  original map is computed by the same code on the unchanged copy (not read from storage), so
  both sides of each comparison share the module, the batch size and the arithmetic.

Every function takes a ``LoadedModel`` (``explain.services.model_spec_load``); torch is
imported where a model runs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image as PILImage

from analysis import pic
from analysis.codec import mask_from_png
from analysis.faithfulness import insertion_deletion, localisation, randomisation
from analysis.human_maps import resize_map
from catalogue.models import Image

if TYPE_CHECKING:
    from explain.model_zoo import LoadedModel

PREDICTION_BATCH_SIZE = 32
DEFAULT_EVALUATED_STEPS = 4


def model_input_image(loaded: LoadedModel, picture: PILImage.Image) -> np.ndarray:
    """(S, S, 3) uint8: the picture as ``loaded.preprocess`` resizes it, before scaling."""
    from explain.model_zoo import RESAMPLING

    size = loaded.input_size
    rgb = picture.convert("RGB").resize((size, size), RESAMPLING[loaded.interpolation])
    return np.asarray(rgb, dtype=np.uint8)


def image_picture(image: Image) -> PILImage.Image:
    with image.file.open("rb") as handle, PILImage.open(handle) as picture:
        picture.load()
        return picture.copy()


def _normalised_batch(loaded: LoadedModel, images: np.ndarray):
    """(N, S, S, 3) pixel values 0..255 (uint8 or float) -> the model's (N, 3, S, S) input."""
    import torch

    values = np.asarray(images, dtype=np.float32) / 255.0
    values = (values - np.array(loaded.mean, np.float32)) / np.array(loaded.std, np.float32)
    return torch.from_numpy(values.transpose(0, 3, 1, 2).copy())


def class_probabilities(loaded: LoadedModel, images: np.ndarray, batch_size: int = PREDICTION_BATCH_SIZE):
    """(N, K) softmax of the model for (N, S, S, 3) images in pixel values."""
    import torch

    parts = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = _normalised_batch(loaded, images[start : start + batch_size]).to(loaded.device)
            parts.append(loaded.module(batch).softmax(dim=1).double().cpu().numpy())
    return np.concatenate(parts)


def softmax_score(loaded: LoadedModel, target: int):
    """PIC's SIC callback: images -> the target's softmax probability."""
    return lambda images: class_probabilities(loaded, images)[:, target]


def correct_score(loaded: LoadedModel, target: int):
    """PIC's AIC callback: images -> 1.0 where the top-1 class is the target, else 0.0."""
    return lambda images: (class_probabilities(loaded, images).argmax(axis=1) == target).astype(np.float64)


def at_input_size(saliency_map: np.ndarray, loaded: LoadedModel) -> np.ndarray:
    return resize_map(saliency_map, (loaded.input_size, loaded.input_size))


@dataclass(frozen=True)
class PicOutcome:
    """One information curve of one map: its result, or why the image was skipped."""

    result: pic.PicResult | None
    skipped: str | None = None  # analysis.pic's reason when result is None

    @property
    def auc(self) -> float:
        return float("nan") if self.result is None else self.result.auc


def pic_curves(
    loaded: LoadedModel,
    image: np.ndarray,
    saliency_map: np.ndarray,
    target: int,
    *,
    mask_seed: int,
    thresholds=pic.DEFAULT_THRESHOLDS,
    min_pred_value: float = pic.DEFAULT_MIN_PRED_VALUE,
    blur_cache: dict | None = None,
) -> dict[str, PicOutcome]:
    """{"sic": ..., "aic": ...} for ``image`` ((S, S, 3) uint8, ``model_input_image``) and a map
    of any size (resized to S x S). ``blur_cache``: a dict to share between the maps of this
    image (same image and ``mask_seed``)."""
    values = at_input_size(saliency_map, loaded)
    mask = pic.random_mask(values.shape, seed=mask_seed)
    blur_cache = {} if blur_cache is None else blur_cache
    outcomes = {}
    for name, pred_func in (("sic", softmax_score(loaded, target)), ("aic", correct_score(loaded, target))):
        try:
            result = pic.compute_pic(
                image,
                values,
                mask,
                pred_func,
                saliency_thresholds=thresholds,
                min_pred_value=min_pred_value,
                keep_images=False,
                blur_cache=blur_cache,
            )
            outcomes[name] = PicOutcome(result)
        except pic.PicSkipped as skipped:
            outcomes[name] = PicOutcome(None, skipped.reason)
    return outcomes


def perturbation_curves(
    loaded: LoadedModel, image: np.ndarray, saliency_map: np.ndarray, target: int, *, step: int | None = None
) -> dict[str, insertion_deletion.PerturbationCurve]:
    """{"insertion": ..., "deletion": ...}: RISE's curves (default step: 224 steps) of the
    target's softmax probability; a map of any size is resized to S x S."""
    values = at_input_size(saliency_map, loaded)

    def probabilities(images):
        return class_probabilities(loaded, images)

    return {
        "insertion": insertion_deletion.insertion_curve(
            image, values, probabilities, target=target, step=step
        ),
        "deletion": insertion_deletion.deletion_curve(image, values, probabilities, target=target, step=step),
    }


def ground_truth_mask(image: Image) -> np.ndarray | None:
    """The image's object mask (H, W) bool: its stored mask, else the union of its boxes,
    else None."""
    mask = mask_from_png(image.ground_truth_mask_png)
    if mask is not None:
        return mask
    if image.ground_truth_boxes:
        return localisation.boxes_mask(image.ground_truth_boxes, image.width, image.height)
    return None


def localisation_scores(saliency_map: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Pixel AUC, F1, MAE and pointing game of a map (any size, resized to the mask's) against
    the ground-truth mask."""
    values = resize_map(saliency_map, mask.shape)
    return {
        "pixel_auc": localisation.pixel_auc(values, mask),
        "f1": localisation.f1_score(values, mask),
        "mae": localisation.mean_absolute_error(values, mask),
        "pointing_game": localisation.pointing_game(values, mask),
    }


def parameter_layers(module) -> list[tuple[str, object]]:
    """(name, module) of the leaf modules that own parameters, in ``named_modules`` order."""
    return [
        (name, child)
        for name, child in module.named_modules()
        if not any(True for _ in child.children()) and any(True for _ in child.parameters(recurse=False))
    ]


def evaluated_step_indices(total: int, evaluated: int) -> list[int]:
    """0-based indices of the cascade's steps where the map is recomputed: the first (logits),
    the last (everything re-initialised) and evenly spaced ones between, ``evaluated`` at most."""
    if total < 1:
        return []
    if evaluated < 2 or total == 1:
        return [0] if evaluated < 2 else sorted({0, total - 1})
    return sorted({int(round(i)) for i in np.linspace(0, total - 1, num=min(evaluated, total))})


def _reinitialise(layer) -> None:
    import torch

    if hasattr(layer, "reset_parameters"):
        layer.reset_parameters()
        return
    with torch.no_grad():  # no initialiser of its own: small Gaussian weights
        for parameter in layer.parameters(recurse=False):
            parameter.normal_(0.0, 0.02)


def randomisation_rows(
    loaded: LoadedModel,
    picture: PILImage.Image,
    method: str,
    params: dict,
    target: int,
    *,
    seed: int = 0,
    evaluated_steps: int = DEFAULT_EVALUATED_STEPS,
    module=None,
) -> list[dict]:
    """The cascading randomisation test of one method on one image: ``analysis.faithfulness.
    randomisation.randomisation_similarities`` rows (step, layer, Spearman with and without
    absolute values, SSIM), one per evaluated step, each with ``layers_randomised`` (how many
    layers from the top are re-initialised) and ``layers_total``. ``module`` replaces
    ``loaded.module`` (tests)."""
    import torch

    from explain import saliency
    from explain.services import model_space_values

    model = copy.deepcopy(module if module is not None else loaded.module).eval()
    batch = loaded.preprocess(picture)[None].to(loaded.device)
    arguments = {**params, **model_space_values(method, loaded)}

    def current_map() -> np.ndarray:
        return saliency.compute(method, model, batch, [target], **arguments)[0]

    original = current_map()
    layers = dict(parameter_layers(model))
    steps = randomisation.randomisation_steps(list(layers))
    chosen = set(evaluated_step_indices(len(steps), evaluated_steps))
    torch.manual_seed(seed)
    randomised, counts = [], []
    for index, (layer, _) in enumerate(steps):
        _reinitialise(layers[layer])
        if index in chosen:
            randomised.append((layer, current_map()))
            counts.append(index + 1)
    rows = randomisation.randomisation_similarities(original, randomised)
    for row, count in zip(rows, counts):
        row["layers_randomised"] = count
        row["layers_total"] = len(steps)
    return rows

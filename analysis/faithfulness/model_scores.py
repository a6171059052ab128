"""The prediction callback every faithfulness metric calls, and its batching.

``pred_func(images) -> scores``: ``images`` is a batch (N, H, W) or (N, H, W, C) of the image's
layout, in floating point (the image's own dtype when it is floating, else float32), and
``scores`` is either one score per image, shape (N,) (PAIR's PIC convention: the callback itself
picks the class), or a score per class, shape (N, K), from which ``target`` picks the column.
Whether a score is a softmax probability or a logit is the callback's choice; the RISE curves
are defined on probabilities.
"""

from collections.abc import Callable, Iterable, Iterator

import numpy as np

PredFunc = Callable[[np.ndarray], np.ndarray]


def working_dtype(image: np.ndarray) -> np.dtype:
    """The dtype of perturbed images: the image's own when floating (float64 keeps hand-made
    test cases exact), float32 for integer images (exact for 8- and 16-bit values)."""
    dtype = np.asarray(image).dtype
    return dtype if np.issubdtype(dtype, np.floating) else np.dtype(np.float32)


def target_scores(pred_func: PredFunc, images: np.ndarray, target: int | None) -> np.ndarray:
    """One float64 score per image of the batch: the callback's (N,) output, or column
    ``target`` of its (N, K) output."""
    scores = np.asarray(pred_func(images), dtype=np.float64)
    n = len(images)
    if scores.ndim == 1 and scores.shape[0] == n:
        return scores  # the callback picked the class; target is not needed
    if scores.ndim == 2 and scores.shape[0] == n:
        if target is None:
            raise ValueError(f"pred_func returned class scores of shape {scores.shape}; give target=")
        return scores[:, int(target)]
    raise ValueError(f"pred_func returned shape {scores.shape} for a batch of {n} images")


def batches(images: Iterable[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    """Stack an iterable of images into arrays of at most ``batch_size`` images."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    chunk: list[np.ndarray] = []
    for image in images:
        chunk.append(image)
        if len(chunk) == batch_size:
            yield np.stack(chunk)
            chunk = []
    if chunk:
        yield np.stack(chunk)


def scores_in_batches(
    pred_func: PredFunc, images: Iterable[np.ndarray], target: int | None, batch_size: int
) -> np.ndarray:
    """The target score of each image of ``images`` (a generator is fine: at most
    ``batch_size`` perturbed images exist at a time), calling ``pred_func`` once per batch."""
    parts = [target_scores(pred_func, batch, target) for batch in batches(images, batch_size)]
    return np.concatenate(parts) if parts else np.zeros(0)

"""Combining participants' painted maps into one human map per image."""

from collections.abc import Sequence

import numpy as np
from PIL import Image as PILImage


def normalise_minmax(saliency_map: np.ndarray) -> np.ndarray:
    """Rescale to [0,1]. A constant map carries no spatial preference and becomes zeros."""
    values = np.asarray(saliency_map, dtype=np.float64)
    low, high = values.min(), values.max()
    if high <= low:
        return np.zeros_like(values)
    return (values - low) / (high - low)


def mean_human_map(maps: Sequence[np.ndarray]) -> np.ndarray:
    """Per-pixel mean of the participants' maps, each min-max normalised first so that
    heavy and light painters weigh the same. maps: sequence of (H,W) -> (H,W) float64."""
    if not maps:
        raise ValueError("no maps to average")
    shape = np.shape(maps[0])
    if any(np.shape(m) != shape for m in maps):
        raise ValueError("all maps of one image must have the same shape")
    return np.mean([normalise_minmax(m) for m in maps], axis=0)


def resize_map(saliency_map: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a float map to shape (H,W)."""
    values = np.asarray(saliency_map, dtype=np.float32)
    if values.shape == tuple(shape):
        return values.astype(np.float64)
    resized = PILImage.fromarray(values, mode="F").resize((shape[1], shape[0]), PILImage.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float64)

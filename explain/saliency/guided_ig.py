"""Guided Integrated Gradients (Kapishnikov et al. 2021, arXiv:2106.09788), as
PAIR-code/saliency 0.2.1 defines it, but running on numpy >= 2.4 (PAIR's own code calls
``np.quantile(..., interpolation=)``, which numpy 2.4 removed, so it raises TypeError).

The path starts at the baseline and reaches the input in ``steps`` steps. Step t
(alpha = t / steps) must bring the L1 distance to the input down to
(1 - alpha) * |x - b|_1, moving features only within the band [alpha - max_dist,
alpha + max_dist] of the straight line (in each feature's own alpha):

1. the gradient g of the target logit is taken once, at the current point;
2. features that fell behind alpha - max_dist are pulled up to it;
3. among all features, those whose |g| is at most the ``fraction`` quantile (numpy's
   "lower" quantile, so ties may select more) are selected; features already at
   alpha + max_dist count in that quantile with an infinite gradient but are never
   selected, so once most features are at the band's end every remaining one is;
4. if moving the selected features to the band's end is not enough, they go there and
   step 3 repeats (with g unchanged); otherwise they move the fraction gamma of the way
   that hits the L1 target exactly (to a relative and absolute tolerance of 1e-9).

Every move dx is credited with dx * g, so the attribution sums to the left Riemann sum of
the path integral and completeness compares it with f(x) - f(b). max_dist = 0 keeps the
straight line (a left-point IG, not PAIR's IG rule); max_dist = 1 is unbounded Guided IG.
The path is computed in float64 numpy on the channel-last layout PAIR uses, so the sums
and comparisons are the same as PAIR's; only the gradients come from the model (float32,
one pass per step for all N images, in batches of ``batch_size``).
"""

from __future__ import annotations

import math

import numpy as np

from ._lazy import torch
from .base import (
    DEFAULT_BATCH_SIZE,
    Attribution,
    ImageBatch,
    SaliencyMethod,
    Targets,
    as_image_batch,
    as_targets,
    model_device,
    target_logit_gradients,
    target_logits,
)
from .integrated_gradients import make_baseline

# Relative and absolute tolerance for "the step's L1 target is reached" (PAIR's EPSILON).
EPSILON = 1e-9


class _GuidedPath:
    """One image's path, channel-last float64 arrays like PAIR's."""

    def __init__(
        self, x_input: np.ndarray, x_baseline: np.ndarray, steps: int, fraction: float, max_dist: float
    ):
        self.x_input = x_input
        self.x_baseline = x_baseline
        self.difference = x_input - x_baseline
        self.moving = self.difference != 0
        self.x = x_baseline.copy()
        self.attribution = np.zeros_like(x_input)
        self.l1_total = np.abs(x_input - x_baseline).sum()
        self.steps = steps
        self.fraction = fraction
        self.max_dist = max_dist

    @property
    def trivial(self) -> bool:
        """Input equal to the baseline: zero attribution, no model call (as PAIR)."""
        return not self.moving.any()

    def _point(self, alpha: float) -> np.ndarray:
        return self.x_baseline + self.difference * alpha

    def _alphas(self) -> np.ndarray:
        """Each feature's position on the straight line; nan where input == baseline."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.moving, (self.x - self.x_baseline) / self.difference, np.nan)

    def advance(self, gradient: np.ndarray, step: int) -> None:
        """Move from the current point to the end of step ``step`` (0-based) using the
        gradient taken at the current point."""
        x = self.x
        grad = gradient.copy()
        alpha = (step + 1.0) / self.steps
        alpha_min = max(alpha - self.max_dist, 0.0)
        alpha_max = min(alpha + self.max_dist, 1.0)
        x_min = self._point(alpha_min)
        x_max = self._point(alpha_max)
        l1_target = self.l1_total * (1 - (step + 1) / self.steps)

        gamma = np.inf
        while gamma > 1.0:
            x_old = x.copy()
            alphas = self._alphas()
            alphas[np.isnan(alphas)] = alpha_max
            behind = alphas < alpha_min
            x[behind] = x_min[behind]

            l1_current = np.abs(x - self.x_input).sum()
            if math.isclose(l1_target, l1_current, rel_tol=EPSILON, abs_tol=EPSILON):
                self.attribution += (x - x_old) * gradient
                break

            grad[x == x_max] = np.inf
            magnitude = np.abs(grad)
            threshold = np.quantile(magnitude, self.fraction, method="lower")
            selected = np.logical_and(magnitude <= threshold, grad != np.inf)
            l1_selected = (np.abs(x - x_max) * selected).sum()
            if not l1_selected > 0:
                # PAIR would loop for ever here (only possible with non-finite gradients).
                raise RuntimeError(
                    f"Guided IG cannot make progress at step {step + 1}: no feature with a finite "
                    "gradient is left to move (are the model's gradients nan?)"
                )
            gamma = (l1_current - l1_target) / l1_selected
            if gamma > 1.0:
                x[selected] = x_max[selected]
            else:
                if not gamma > 0:
                    raise RuntimeError(f"Guided IG overshot its L1 target at step {step + 1} (gamma={gamma})")
                x[selected] = (x + (x_max - x) * gamma)[selected]
            self.attribution += (x - x_old) * gradient


def _check_parameters(steps: int, fraction: float, max_dist: float, batch_size: int) -> None:
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    if not 0 <= max_dist <= 1:
        raise ValueError(f"max_dist must be in [0, 1], got {max_dist!r}")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")


def _gradients(model, points: np.ndarray, targets: torch.Tensor, device, batch_size: int) -> np.ndarray:
    """Target-logit gradients at channel-last float64 points (B,H,W,C), float32 (B,H,W,C)."""
    inputs = torch.from_numpy(points.astype(np.float32)).to(device).permute(0, 3, 1, 2)
    chunks = []
    for start in range(0, inputs.shape[0], batch_size):
        grads = target_logit_gradients(
            model, inputs[start : start + batch_size], targets[start : start + batch_size]
        )
        chunks.append(grads.permute(0, 2, 3, 1).cpu().numpy())
    return np.concatenate(chunks)


class GuidedIG(SaliencyMethod):
    """Guided IG maps (N,H,W) float32; defaults are PAIR's (zeros baseline, 200 steps,
    fraction 0.25, max_dist 0.02) with channels reduced by the sum of absolute values."""

    name = "guided_ig"
    defaults = {
        "baseline": "zeros",
        "steps": 200,
        "fraction": 0.25,
        "max_dist": 0.02,
        "channel_reduction": "abs_sum",
    }

    def attribute(
        self,
        model: torch.nn.Module,
        images: ImageBatch,
        targets: Targets,
        *,
        baseline,
        steps: int,
        fraction: float,
        max_dist: float,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Attribution:
        """Per-channel attributions (N,3,H,W) float32 (computed in float64) and per-image
        completeness details. ``baseline``: 'zeros' (PAIR's default), 'min', 'max' or an array,
        as for integrated_gradients."""
        _check_parameters(steps, fraction, max_dist, batch_size)
        steps = int(steps)
        device = model_device(model)
        x = as_image_batch(images, device)
        n = x.shape[0]
        target = as_targets(targets, n).to(device)
        base = make_baseline(x, baseline)

        inputs = x.permute(0, 2, 3, 1).cpu().numpy().astype(np.float64)
        baselines = base.permute(0, 2, 3, 1).cpu().numpy().astype(np.float64)
        paths = [_GuidedPath(inputs[i], baselines[i], steps, fraction, max_dist) for i in range(n)]
        active = [i for i, path in enumerate(paths) if not path.trivial]
        if active:
            rows = torch.tensor(active, device=device)
            for step in range(steps):
                points = np.stack([paths[i].x for i in active])
                gradients = _gradients(model, points, target[rows], device, batch_size)
                for i, gradient in zip(active, gradients):
                    paths[i].advance(gradient, step)

        attributions = np.stack([path.attribution for path in paths]).transpose(0, 3, 1, 2)
        ends = target_logits(model, torch.cat([x, base]), torch.cat([target, target]), batch_size)
        output_difference = (ends[:n] - ends[n:]).cpu().numpy().astype(np.float64)
        details = []
        for total, expected in zip(attributions.sum(axis=(1, 2, 3)), output_difference):
            gap = abs(total - expected) / abs(expected) if expected != 0 else float("nan")
            details.append(
                {
                    "attribution_sum": float(total),
                    "output_difference": float(expected),
                    "completeness_gap": float(gap),
                }
            )
        return Attribution(np.ascontiguousarray(attributions, dtype=np.float32), details)


guided_ig = GuidedIG()
guided_ig_attributions = guided_ig.attributions
guided_ig_result = guided_ig.result

"""Integrated Gradients (Sundararajan et al. 2017), batched through the model.

attribution = (x - b) * sum_i w_i * grad f(b + a_i (x - b)), with nodes a_i and weights
w_i from the integration ``rule``:

- ``"pair"``: a_i = linspace(0, 1, steps), w_i = 1/steps. PAIR-code/saliency's rule, the
  default so that maps are comparable with the literature; it overweights the end points
  and converges slowly, which the completeness gap in the details makes visible.
- ``"trapezoid"``: the same nodes with trapezoid weights.
- ``"gauss_legendre"``: Gauss-Legendre nodes on [0, 1], Captum's default rule.

Completeness: sum(attribution) should equal f(x) - f(b); each image's details report both
and the relative gap |sum - diff| / |diff|.

``steps`` is a number of path points, or a completeness target
``{"max_gap": 0.05, "initial": 16, "limit": 512}`` (any key may be left out): each image starts
at ``initial`` points and doubles them until its gap is at most ``max_gap`` (5 %, the bound the
IG paper suggests) or ``limit`` is reached; details report ``steps_used`` and the model passes
spent. Gauss-Legendre converges fastest, so it is the rule to pair with a target: on the trained
EfficientNet-Lite0 a black baseline leaves a 29 % gap at 50 fixed points with PAIR's rule and
6.8 % with Gauss-Legendre.
"""

from __future__ import annotations

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

RULES = ("pair", "trapezoid", "gauss_legendre")


def integration_nodes(steps: int, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """Nodes in [0, 1] and their weights (summing to 1 for the exact rules)."""
    if steps < 1:
        raise ValueError("steps must be >= 1")
    if rule == "pair":
        return np.linspace(0.0, 1.0, steps), np.full(steps, 1.0 / steps)
    if rule == "trapezoid":
        if steps < 2:
            raise ValueError("the trapezoid rule needs steps >= 2")
        weights = np.full(steps, 1.0 / (steps - 1))
        weights[[0, -1]] /= 2
        return np.linspace(0.0, 1.0, steps), weights
    if rule == "gauss_legendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return (nodes + 1.0) / 2.0, weights / 2.0
    raise ValueError(f"unknown rule {rule!r}; use one of {', '.join(RULES)}")


BASELINES = ("zeros", "min", "max", "black", "white", "black_white", "min_max", "random")


def _channel_values(values, images: torch.Tensor, name: str) -> torch.Tensor:
    if values is None:
        raise ValueError(
            f"baseline {name!r} needs {name}_value: the model-space value of a {name} pixel, "
            "per channel, i.e. (0 or 1 - mean) / std of the model's normalisation"
        )
    tensor = torch.as_tensor(np.asarray(values, dtype=np.float32), device=images.device).reshape(-1)
    if tensor.numel() not in (1, images.shape[1]):
        raise ValueError(f"{name}_value must have 1 or {images.shape[1]} values")
    return tensor.reshape(1, -1, 1, 1).expand_as(images).clone()


def make_baselines(
    images: torch.Tensor, baseline, *, black_value=None, white_value=None, n_random: int = 10, seed: int = 0
) -> list[tuple[str, torch.Tensor]]:
    """The baselines whose IG attributions are averaged, as (name, (N,3,H,W)) pairs.

    'zeros' (PAIR's default); 'min' / 'max': each image's own extreme value (XRAI's pair,
    'min_max'); 'black' / 'white' / 'black_white': black and white pixels in model space
    (given by black_value / white_value); 'random': n_random uniform noise images between
    black and white (or each image's min and max when those values are not given);
    or an array of shape (N,3,H,W) or (3,H,W).
    """
    if not isinstance(baseline, str):
        tensor = torch.as_tensor(np.asarray(baseline), dtype=images.dtype).to(images.device)
        if tensor.shape == images.shape[1:]:
            tensor = tensor.expand_as(images)
        if tensor.shape != images.shape:
            raise ValueError(
                f"baseline shape {tuple(tensor.shape)} does not match images {tuple(images.shape)}"
            )
        return [("array", tensor.clone())]
    flat = images.reshape(images.shape[0], -1)
    if baseline == "zeros":
        return [("zeros", torch.zeros_like(images))]
    if baseline in ("min", "max"):
        extreme = flat.amin(dim=1) if baseline == "min" else flat.amax(dim=1)
        return [(baseline, extreme[:, None, None, None].expand_as(images).clone())]
    if baseline == "min_max":
        return make_baselines(images, "min") + make_baselines(images, "max")
    if baseline in ("black", "white"):
        return [
            (baseline, _channel_values(black_value if baseline == "black" else white_value, images, baseline))
        ]
    if baseline == "black_white":
        return make_baselines(images, "black", black_value=black_value) + make_baselines(
            images, "white", white_value=white_value
        )
    if baseline == "random":
        if n_random < 1:
            raise ValueError("n_random must be >= 1")
        if black_value is not None and white_value is not None:
            low = _channel_values(black_value, images, "black")
            high = _channel_values(white_value, images, "white")
        else:
            low = flat.amin(dim=1)[:, None, None, None].expand_as(images)
            high = flat.amax(dim=1)[:, None, None, None].expand_as(images)
        generator = torch.Generator().manual_seed(seed)
        return [
            (
                f"random{k}",
                low + (high - low) * torch.rand(images.shape, generator=generator).to(images.device),
            )
            for k in range(n_random)
        ]
    raise ValueError(f"unknown baseline {baseline!r}; use one of {', '.join(BASELINES)} or an array")


def make_baseline(images: torch.Tensor, baseline) -> torch.Tensor:
    """A single baseline (N,3,H,W): 'zeros', 'min', 'max' or an array."""
    baselines = make_baselines(images, baseline)
    if len(baselines) != 1:
        raise ValueError(f"baseline {baseline!r} is a combination; a single baseline is needed here")
    return baselines[0][1]


ADAPTIVE_STEPS_DEFAULTS = {"max_gap": 0.05, "initial": 16, "limit": 512}


def adaptive_steps(steps) -> dict | None:
    """The completeness target that ``steps`` asks for (defaults filled in), or None when
    ``steps`` is a fixed number of points."""
    if isinstance(steps, bool):
        raise ValueError("steps must be a number of points or a completeness target")
    if isinstance(steps, int | np.integer):
        return None
    if not isinstance(steps, dict):
        raise ValueError(
            'steps must be a number of points or a completeness target such as {"max_gap": 0.05}'
        )
    unknown = set(steps) - set(ADAPTIVE_STEPS_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown keys in steps: {', '.join(sorted(unknown))}; use max_gap, initial, limit")
    target = {**ADAPTIVE_STEPS_DEFAULTS, **steps}
    if not 0 < float(target["max_gap"]) < 1:
        raise ValueError("steps max_gap must be between 0 and 1 (a relative gap, e.g. 0.05)")
    if not 1 <= int(target["initial"]) <= int(target["limit"]):
        raise ValueError("steps needs 1 <= initial <= limit")
    return target


def _attributions_from(
    model, x: torch.Tensor, target: torch.Tensor, base: torch.Tensor, alphas, weights, batch_size: int
) -> torch.Tensor:
    """IG attributions for one baseline; path points go through the model batch_size at a time."""
    n, steps = x.shape[0], len(alphas)
    diff = x - base
    pairs = [(i, k) for i in range(n) for k in range(steps)]
    weighted_grads = torch.zeros_like(x)
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        rows = torch.tensor([i for i, _ in chunk], device=x.device)
        alpha = torch.tensor([alphas[k] for _, k in chunk], dtype=x.dtype, device=x.device)
        weight = torch.tensor([weights[k] for _, k in chunk], dtype=x.dtype, device=x.device)
        points = base[rows] + alpha[:, None, None, None] * diff[rows]
        grads = target_logit_gradients(model, points, target[rows])
        weighted_grads.index_add_(0, rows, grads * weight[:, None, None, None])
    return (weighted_grads * diff).detach()


class IntegratedGradients(SaliencyMethod):
    """Integrated Gradients maps (N,H,W) float32; defaults are PAIR's (zeros baseline,
    25 steps, equal-weight rule) with channels reduced by the sum of absolute values."""

    name = "integrated_gradients"
    defaults = {"baseline": "zeros", "steps": 25, "rule": "pair", "channel_reduction": "abs_sum"}

    def attribute(
        self,
        model: torch.nn.Module,
        images: ImageBatch,
        targets: Targets,
        *,
        baseline,
        steps: int | dict,
        rule: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        black_value=None,
        white_value=None,
        n_random: int = 10,
        seed: int = 0,
    ) -> Attribution:
        """Per-channel attributions (N,3,H,W) float32, averaged over the baselines, and per
        image the completeness of each baseline's attribution.

        At most ``batch_size`` path points go through the model at once, so memory is bounded
        whatever ``steps`` is.
        """
        device = model_device(model)
        x = as_image_batch(images, device)
        n = x.shape[0]
        target = as_targets(targets, n).to(device)
        baselines = make_baselines(
            x, baseline, black_value=black_value, white_value=white_value, n_random=n_random, seed=seed
        )
        completeness_target = adaptive_steps(steps)
        if completeness_target is None:
            total, details = _fixed_steps(model, x, target, baselines, int(steps), rule, batch_size)
        else:
            total, details = _steps_to_target(
                model, x, target, baselines, completeness_target, rule, batch_size
            )
        return Attribution((total / len(baselines)).cpu().numpy().astype(np.float32), details)


def _fixed_steps(model, x, target, baselines, steps: int, rule: str, batch_size: int):
    """The attributions summed over the baselines, and per image each baseline's completeness."""
    n = x.shape[0]
    alphas, weights = integration_nodes(steps, rule)
    total = torch.zeros_like(x)
    details: list[dict] = [{"baselines": []} for _ in range(n)]
    for name, base in baselines:
        attributions = _attributions_from(model, x, target, base, alphas, weights, batch_size)
        total += attributions
        ends = target_logits(model, torch.cat([x, base]), torch.cat([target, target]), batch_size)
        output_difference = (ends[:n] - ends[n:]).cpu().numpy().astype(np.float64)
        attribution_sum = attributions.sum(dim=(1, 2, 3)).cpu().numpy().astype(np.float64)
        for detail, got, expected in zip(details, attribution_sum, output_difference):
            gap = abs(got - expected) / abs(expected) if expected != 0 else float("nan")
            detail["baselines"].append(
                {
                    "baseline": name,
                    "attribution_sum": float(got),
                    "output_difference": float(expected),
                    "completeness_gap": float(gap),
                }
            )
    for detail in details:  # the headline figure: the worst baseline's gap
        detail["completeness_gap"] = max(entry["completeness_gap"] for entry in detail["baselines"])
        if len(detail["baselines"]) == 1:
            detail.update({k: v for k, v in detail["baselines"][0].items() if k != "baseline"})
    return total, details


def _steps_to_target(model, x, target, baselines, completeness_target: dict, rule: str, batch_size: int):
    """Like _fixed_steps, each image with the fewest doublings of its path points that bring
    its gap (the worst baseline's) to the target, or the limit. An undefined gap (the image and
    the baseline score the same) cannot improve, so it stops there."""
    max_gap = float(completeness_target["max_gap"])
    limit = int(completeness_target["limit"])
    n = x.shape[0]
    total = torch.zeros_like(x)
    details: list[dict] = [{} for _ in range(n)]
    passes = [0] * n
    pending = list(range(n))
    steps = int(completeness_target["initial"])
    while pending:
        rows = torch.tensor(pending, device=x.device)
        sub_baselines = [(name, base[rows]) for name, base in baselines]
        sub_total, sub_details = _fixed_steps(
            model, x[rows], target[rows], sub_baselines, steps, rule, batch_size
        )
        still_pending = []
        for k, i in enumerate(pending):
            passes[i] += len(baselines) * (steps + 2)  # the path points and the two end points
            gap = sub_details[k]["completeness_gap"]
            if np.isfinite(gap) and gap > max_gap and steps * 2 <= limit:
                still_pending.append(i)
                continue
            total[i] = sub_total[k]
            for entry in sub_details[k]["baselines"]:  # XRAI reads the entries of its baselines
                entry["steps_used"] = steps
            details[i] = {**sub_details[k], "steps_used": steps, "model_passes": passes[i]}
        pending = still_pending
        steps *= 2
    return total, details


integrated_gradients = IntegratedGradients()
integrated_gradients_attributions = integrated_gradients.attributions
integrated_gradients_result = integrated_gradients.result

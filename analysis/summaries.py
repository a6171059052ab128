"""Summaries across images: the one implementation behind the notebook analysis
(``analysis.pipeline.analyse_study``) and the platform's results pages and exports (the
``research`` selectors): means with bootstrap CIs, paired permutation tests with Holm's
correction, noise-ceiling means, hierarchical CIs, the ceiling scatter, severity curves,
prediction flips, cue-conflict agreement and watermark shares.

Two levels. On arrays: ``mean_ci`` and ``paired_tests`` take tables (groups, images) with NaN
where a group has no defined score for an image, ``ceiling_summary`` per-image ceilings,
``hierarchical_ci`` per-image draws. On tidy rows (dicts, as ``agreement_rows`` and the
notebook's ``StudyAnalysis.score_rows`` give them): the functions named after what the results
page shows, which build those tables (an image explained for several target classes counts
once, with the mean of its scores) and label the numbers. The resampling is
``analysis.stats``'s: scipy's definitions, every group resampled with the same draws.
"""

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping

import numpy as np

from analysis import stats
from analysis.stats import Seed

Interval = Callable[[np.ndarray], tuple[float, float]]
Test = Callable[[np.ndarray], tuple[float, float]]

NAN = float("nan")

# --- on arrays -------------------------------------------------------------------------------


def mean_ci(
    table: np.ndarray,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: Seed = 0,
    interval: Interval | None = None,
) -> list[dict]:
    """Per row of ``table`` (groups, images): ``n_images`` (finite values), their ``mean`` and
    ``sd`` (ddof 1) and the percentile-bootstrap CI of the mean, ``ci_low``/``ci_high``
    (``stats.bootstrap_ci``: the images resampled with the same draws for every complete row,
    a row with NaN over its finite values alone; NaN with fewer than two values).
    ``interval`` (a row -> (low, high)) replaces the bootstrap, e.g. by scipy's as a reference."""
    table = np.atleast_2d(np.asarray(table, dtype=np.float64))
    if interval is None:
        low, high = stats.bootstrap_ci(table, n_resamples=n_resamples, confidence=confidence, rng=seed)
    else:
        low, high = np.array([interval(row) for row in table], dtype=np.float64).reshape(-1, 2).T
    out = []
    for row, row_low, row_high in zip(table, low, high):
        finite = row[np.isfinite(row)]
        out.append(
            {
                "n_images": int(finite.size),
                "mean": float(np.mean(finite)) if finite.size else NAN,
                "sd": float(np.std(finite, ddof=1)) if finite.size > 1 else NAN,
                "ci_low": float(row_low),
                "ci_high": float(row_high),
            }
        )
    return out


def pair_differences(tables: np.ndarray) -> tuple[list[tuple[int, int]], np.ndarray]:
    """(every pair (a, b), a < b, of the groups; per-image differences a - b, (images,
    metrics x pairs)) of ``tables`` (metrics, groups, images), metric-major: metric c's pairs
    are the block c * len(pairs) ... (c + 1) * len(pairs)."""
    tables = np.asarray(tables, dtype=np.float64)
    n_metrics, n_groups, n_images = tables.shape
    pairs = stats.all_pairs(n_groups)
    if not pairs:
        return pairs, np.zeros((n_images, 0))
    columns = [tables[c, a] - tables[c, b] for c in range(n_metrics) for a, b in pairs]
    return pairs, np.stack(columns, axis=1)


def paired_tests(
    tables: np.ndarray,
    *,
    n_resamples: int = 9999,
    seed: Seed = 0,
    test: Test | None = None,
) -> tuple[list[tuple[int, int]], list[list[dict]]]:
    """Every pair of groups of ``tables`` (metrics, groups, images), or of one table (groups,
    images), on each metric: ``n_images`` (both defined), the ``mean_difference`` a - b, the
    p-value of a two-sided paired sign-flip permutation test (``stats.permutation_pvalues``:
    every sign pattern when that is fewer than ``n_resamples``; one set of flips for every
    pair and metric) and ``p_holm``, Holm's correction over the pairs of that metric. Returns
    (pairs, per metric a list of one dict per pair). ``test`` (differences -> (mean, p))
    replaces the batched test, e.g. by scipy's as a reference."""
    tables = np.asarray(tables, dtype=np.float64)
    if tables.ndim == 2:
        tables = tables[None]
    pairs, differences = pair_differences(tables)
    if test is None:
        observed, pvalues = stats.permutation_pvalues(differences, n_resamples=n_resamples, rng=seed)
    else:
        tested = np.array([test(column) for column in differences.T], dtype=np.float64)
        observed, pvalues = tested.reshape(-1, 2).T
    counts = np.isfinite(differences).sum(axis=0)
    out = []
    for c in range(len(tables)):
        block = range(c * len(pairs), (c + 1) * len(pairs))
        adjusted = stats.holm(pvalues[block.start : block.stop])
        out.append(
            [
                {
                    "n_images": int(counts[j]),
                    "mean_difference": float(observed[j]),
                    "p": float(pvalues[j]),
                    "p_holm": float(p_holm),
                }
                for j, p_holm in zip(block, adjusted)
            ]
        )
    return pairs, out


def ceiling_summary(split_half, spearman_brown, floor=None) -> dict:
    """Means over the images whose value is defined (NaN where none is) of per-image
    split-half ceilings, their Spearman-Brown values and, when given, floors; ``n_images``
    counts the images with a defined split-half ceiling."""
    split_half = np.asarray(split_half, dtype=np.float64)
    out = {
        "n_images": int(np.isfinite(split_half).sum()),
        "split_half": _finite_mean(split_half),
        "spearman_brown": _finite_mean(spearman_brown),
    }
    if floor is not None:
        out["floor"] = _finite_mean(floor)
    return out


def hierarchical_ci(
    draws: Mapping[Hashable, np.ndarray], *, confidence: float = 0.95, seed: Seed = 0
) -> dict[Hashable, tuple[float, float]]:
    """Per group, the hierarchical percentile CI of the mean over images from its draws
    (images, resamples): image i's score in resample r with its participants drawn with
    replacement (``batch_scores.participant_bootstrap``). The images of each resample are
    those ``mean_ci`` draws for the same ``seed`` (``stats.hierarchical_bootstrap_ci``), so
    with one participant per image the interval is the ordinary one."""
    return {
        group: stats.hierarchical_bootstrap_ci(values, confidence=confidence, rng=seed)
        for group, values in draws.items()
    }


def _finite_mean(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else NAN


# --- on tidy rows ----------------------------------------------------------------------------


def _per_image(
    rows: Iterable[dict], group: Callable[[dict], Hashable], image: str, *, finite_only: bool
) -> dict[Hashable, dict[Hashable, list[float]]]:
    """group -> image -> its values (every group met, even one without a value)."""
    out: dict[Hashable, dict[Hashable, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        values = out[group(row)]
        if not finite_only or np.isfinite(row["value"]):
            values[row[image]].append(row["value"])
    return out


def _table(per_group: Mapping) -> tuple[list, np.ndarray]:
    """(the groups, sorted; their table (groups, images) of per-image means, the images
    sorted, NaN where a group has none)."""
    groups = sorted(per_group)
    images = sorted({image for per_image in per_group.values() for image in per_image})
    table = np.array(
        [[np.mean(per_group[g][i]) if i in per_group[g] else np.nan for i in images] for g in groups],
        dtype=np.float64,
    ).reshape(len(groups), len(images))
    return groups, table


def agreement_summary(
    rows: Iterable[dict],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: Seed = 0,
    image: str = "image_id",
) -> list[dict]:
    """Per model x method x metric (sorted): ``mean_ci`` over images, NaNs left out. An
    image explained for several target classes counts once, with the mean of its defined
    scores, as in ``pairwise_comparisons``: the bootstrap resamples images, not maps."""
    per_group = _per_image(
        rows, lambda row: (row["model"], row["method"], row["metric"]), image, finite_only=True
    )
    groups, table = _table(per_group)
    entries = mean_ci(table, n_resamples=n_resamples, confidence=confidence, seed=seed)
    return [
        {"model": model, "method": method, "metric": metric, **entry}
        for (model, method, metric), entry in zip(groups, entries)
    ]


def pairwise_comparisons(
    rows: Iterable[dict],
    *,
    metric: str = "spearman",
    n_resamples: int = 9999,
    seed: Seed = 0,
    image: str = "image_id",
) -> list[dict]:
    """Every pair of model x method on one metric (``paired_tests``): the mean per-image
    difference (a - b) over the images both have, a two-sided paired sign-flip permutation
    test and Holm's correction over all the pairs. An image explained for several targets
    counts once, with its mean score (undefined when one of them is)."""
    per_group = _per_image(
        (row for row in rows if row["metric"] == metric),
        lambda row: (row["model"], row["method"]),
        image,
        finite_only=False,
    )
    groups, table = _table(per_group)
    if len(groups) < 2 or not table.shape[1]:
        return []
    pairs, (tests,) = paired_tests(table, n_resamples=n_resamples, seed=seed)
    return [
        {"a": " · ".join(groups[a]), "b": " · ".join(groups[b]), "metric": metric, **entry}
        for (a, b), entry in zip(pairs, tests)
    ]


def noise_ceiling(per_image: Mapping[Hashable, tuple[float, float]]) -> dict:
    """Over the study, from each image's (split-half Spearman, its Spearman-Brown value):
    ``ceiling_summary``'s means as ``spearman`` and ``spearman_brown``, with ``per_image``
    itself. Images with fewer than two participants have no ceiling."""
    split_half = [split for split, _ in per_image.values()]
    corrected = [brown for _, brown in per_image.values()]
    summary = ceiling_summary(split_half, corrected)
    return {
        "per_image": per_image,
        "n_images": summary["n_images"],
        "spearman": summary["split_half"],
        "spearman_brown": summary["spearman_brown"],
    }


def ceiling_scatter_series(
    rows: Iterable[dict], study_ceiling: dict, *, image: str = "image_id"
) -> dict[str, tuple[list, list]]:
    """Per model x method, (the image's split-half ceiling, the model map's Spearman) for each
    image that has a ceiling (``study_ceiling`` as from ``noise_ceiling``): does a model fall
    short where people agree with each other?"""
    series: dict[str, tuple[list, list]] = {}
    for row in rows:
        image_ceiling = study_ceiling["per_image"].get(row[image])
        if row["metric"] != "spearman" or image_ceiling is None:
            continue
        x, y = series.setdefault(f"{row['model']} · {row['method']}", ([], []))
        x.append(image_ceiling[0])
        y.append(row["value"])
    return series


def hierarchical_cis(
    rows: Iterable[dict],
    draws: Mapping[Hashable, np.ndarray],
    *,
    confidence: float = 0.95,
    seed: Seed = 0,
    image: str = "image_id",
) -> dict[tuple[str, str], tuple[float, float]]:
    """(model, method) -> ``hierarchical_ci`` of the mean Spearman over images: the images
    resampled exactly as ``agreement_summary``'s CI resamples them (same images, order and
    seed), and within each image its participants (``draws``: map id -> (resamples,)). An
    image explained for several target classes counts once, with the mean of its maps'
    draws."""
    per_group: dict[tuple, dict[Hashable, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row["metric"] == "spearman" and np.isfinite(row["value"]) and row["map_id"] in draws:
            per_group[(row["model"], row["method"])][row[image]].append(draws[row["map_id"]])
    tables = {
        group: np.array([np.mean(values, axis=0) for _, values in sorted(per_image.items())])
        for group, per_image in per_group.items()
    }
    return hierarchical_ci(tables, confidence=confidence, seed=seed)


def severity_curves(rows: Iterable[dict], *, metric: str = "spearman") -> dict[str, tuple[list, list]]:
    """Per model x method x corruption: (severities, mean ``metric`` over images) from the
    agreement rows, severity 0 being the originals that have a variant with that corruption
    (so that every point of a line averages the same images, as far as their maps exist).
    Targets other than the label (or shape) are left out: one score per map's image."""
    rows = list(rows)
    corrupted: dict[str, set[str]] = defaultdict(set)  # corruption -> originals that have it
    for row in rows:
        if row["corruption"]:
            corrupted[row["corruption"]].add(row["original"])
    values: dict[tuple, list[float]] = defaultdict(list)
    for row in rows:
        if row["metric"] != metric or row["target"] not in ("label", "shape"):
            continue
        if row["corruption"]:
            values[(row["model"], row["method"], row["corruption"], row["severity"])].append(row["value"])
            continue
        for corruption, originals in corrupted.items():
            if row["image"] in originals:
                values[(row["model"], row["method"], corruption, 0)].append(row["value"])
    curves: dict[str, tuple[list, list]] = {}
    for (model, method, corruption, severity), scores in sorted(values.items()):
        severities, means = curves.setdefault(f"{corruption} · {model} · {method}", ([], []))
        severities.append(severity)
        means.append(_finite_mean(scores))
    return curves


def flip_summary(changes: Iterable[dict]) -> list[dict]:
    """Per model x corruption x severity (sorted), from rows with a boolean ``flipped``
    (the top-1 class of a variant differs from its original's): variants, how many flipped,
    and the share."""
    groups: dict[tuple, list[bool]] = defaultdict(list)
    for row in changes:
        groups[(row["model"], row["corruption"], row["severity"])].append(row["flipped"])
    return [
        {
            "model": model,
            "corruption": corruption,
            "severity": severity,
            "n": len(flips),
            "flipped": sum(flips),
            "share_flipped": sum(flips) / len(flips),
        }
        for (model, corruption, severity), flips in sorted(groups.items())
    ]


def cue_conflict_agreement(rows: Iterable[dict], *, metric: str = "spearman") -> list[dict]:
    """Per model x method, over the original images: mean ``metric`` with the human mean
    for the shape-target map and for the texture-target map, and the images of each."""
    values: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: {"shape": [], "texture": []})
    for row in rows:
        if row["metric"] == metric and not row["original"] and row["target"] in ("shape", "texture"):
            values[(row["model"], row["method"])][row["target"]].append(row["value"])
    summary = []
    for (model, method), by_target in sorted(values.items()):
        entry = {"model": model, "method": method}
        for target, scores in by_target.items():
            entry[f"{target}_n"] = int(np.isfinite(np.asarray(scores, dtype=np.float64)).sum())
            entry[target] = _finite_mean(scores)
        entry["difference"] = entry["shape"] - entry["texture"]
        summary.append(entry)
    return summary


def watermark_summary(
    rows: Iterable[dict], *, n_resamples: int = 1000, confidence: float = 0.95, seed: Seed = 0
) -> list[dict]:
    """Per model x method x target (sorted), from rows with each map's share of positive mass
    ``on_watermark`` and ``on_control``: the mean share on the watermark with its bootstrap CI
    over the maps (``mean_ci``), the mean share on the control region, and how often the
    watermark got more. Maps with an undefined share are left out."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["model"], row["method"], row["target"])].append(row)
    summary = []
    for (model, method, target), members in sorted(groups.items()):
        on_mark = np.array([row["on_watermark"] for row in members], dtype=float)
        on_control = np.array([row["on_control"] for row in members], dtype=float)
        keep = np.isfinite(on_mark) & np.isfinite(on_control)
        (entry,) = mean_ci(on_mark[keep][None], n_resamples=n_resamples, confidence=confidence, seed=seed)
        summary.append(
            {
                "model": model,
                "method": method,
                "target": target,
                "maps": int(keep.sum()),
                "on_watermark": entry["mean"],
                "ci_low": entry["ci_low"],
                "ci_high": entry["ci_high"],
                "on_control": _finite_mean(on_control[keep]),
                "watermark_wins": _finite_mean(on_mark[keep] > on_control[keep]),
            }
        )
    return summary

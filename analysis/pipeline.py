"""The notebook entry point: analyse a whole study from arrays, every metric for every image x
model x method, noise ceilings and floors, means with bootstrap CIs, paired permutation tests
with Holm's correction, optionally hierarchical CIs.

``analyse_study`` is the fast path: per image, the batched kernel (``analysis.batch_scores``),
on ``workers`` threads (numpy releases the GIL in the heavy calls), so memory stays at a few
images' worth whatever the study size; then the summaries across images
(``analysis.summaries``, the same functions the platform's results pages use), which draw
every bootstrap resample and permutation once for all groups and pairs. It gives the numbers
of ``analyse_study_loop``, the straightforward per-image loop over ``analysis.metrics``,
``analysis.ceiling`` and scipy's ``bootstrap``/``permutation_test`` (to rounding;
``tests/analysis`` and ``benchmarks/analysis.py`` check it), in a fraction of the time.

Inputs: ``human_maps`` (images, participants, H, W) in any real dtype (uint8 PNG values are
fine: every normalisation is scale-free), ``model_maps`` (images, models, methods, H, W),
already at the human maps' size; any object indexable by image works (e.g. a memmap).
"""

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats as scipy_stats

from analysis import ceiling, metrics, summaries
from analysis.batch_scores import (
    LOWER_IS_BETTER,
    METRICS,
    PreparedMaps,
    Reference,
    Settings,
    column_metric,
    normalised_participants,
    participant_bootstrap,
    parts_needed,
    pearson_of_ranks,
    score_prepared,
    split_half_spearman,
    split_means,
)
from analysis.human_maps import harmonization_blur, mean_map

__all__ = [
    "METRICS",
    "Settings",
    "StudyAnalysis",
    "analyse_study",
    "analyse_study_loop",
    "pairwise_differences",
]

# Sub-streams of the one seed, so that every random draw is reproducible on its own.
_CEILING, _BORJI, _FLOOR, _BOOTSTRAP, _PERMUTATION, _HIERARCHICAL = range(1, 7)


def _rng(settings: Settings, *stream: int) -> np.random.Generator:
    return np.random.default_rng([settings.seed, *stream])


@dataclass
class StudyAnalysis:
    """Results of an analysis with the parameters that produced them. Arrays are indexed
    (image, model, method, column); ``columns`` names the metric columns."""

    settings: Settings
    models: list[str]
    methods: list[str]
    image_ids: list
    columns: list[str]
    scores: np.ndarray
    ceiling: np.ndarray  # (images, columns), NaN where not computed
    ceiling_spearman_brown: np.ndarray
    floor: np.ndarray
    n_participants: np.ndarray
    summary: list[dict] = field(default_factory=list)
    comparisons: list[dict] = field(default_factory=list)
    hierarchical_ci: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    @property
    def parameters(self) -> dict:
        out = asdict(self.settings)
        out.update(
            images=len(self.image_ids),
            models=list(self.models),
            methods=list(self.methods),
            columns=list(self.columns),
            emd_grid_used=self._emd_grid(),
        )
        return out

    def _emd_grid(self):
        shape = self.settings.emd_grid
        return list(shape) if shape else "1/32 of the map size (MIT)"

    def score_rows(self) -> list[dict]:
        """One tidy row per image x model x method x metric."""
        rows = []
        for i, image in enumerate(self.image_ids):
            for m, model in enumerate(self.models):
                for k, method in enumerate(self.methods):
                    values = self.scores[i, m, k]
                    rows += [
                        {"image": image, "model": model, "method": method, "metric": name, "value": float(v)}
                        for name, v in zip(self.columns, values)
                    ]
        return rows

    def image_rows(self) -> list[dict]:
        """One row per image x metric with a ceiling: split-half, Spearman-Brown, floor."""
        rows = []
        for c, name in enumerate(self.columns):
            if name not in self.settings.ceiling_metrics:
                continue
            for i, image in enumerate(self.image_ids):
                rows.append(
                    {
                        "image": image,
                        "metric": name,
                        "n_participants": int(self.n_participants[i]),
                        "ceiling": float(self.ceiling[i, c]),
                        "ceiling_spearman_brown": float(self.ceiling_spearman_brown[i, c]),
                        "floor": float(self.floor[i, c]),
                    }
                )
        return rows


def _shapes(human_maps, model_maps, include):
    images, participants, height, width = np.shape(human_maps)
    m_shape = np.shape(model_maps)
    if len(m_shape) != 5 or m_shape[0] != images or tuple(m_shape[3:]) != (height, width):
        raise ValueError(
            f"model maps must be (images, models, methods, H, W) = ({images}, ., ., {height}, {width}),"
            f" got {m_shape}"
        )
    if include is None:
        include = np.ones((images, participants), dtype=bool)
    include = np.asarray(include, dtype=bool)
    if include.shape == (participants,):
        include = np.broadcast_to(include, (images, participants))
    if include.shape != (images, participants):
        raise ValueError("include must be (participants,) or (images, participants)")
    return images, participants, (height, width), m_shape[1], m_shape[2], include


def _names(given, count, prefix):
    names = list(given) if given is not None else [f"{prefix}{j}" for j in range(count)]
    if len(names) != count:
        raise ValueError(f"{len(names)} {prefix} names for {count} {prefix}s")
    return names


def analyse_study(
    human_maps,
    model_maps,
    *,
    models: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    image_ids: Sequence | None = None,
    include: np.ndarray | None = None,
    settings: Settings | None = None,
    workers: int = 2,
) -> StudyAnalysis:
    """The whole analysis, fast. ``include`` flags the participants to keep, (participants,)
    or (images, participants) booleans (False also marks a participant with no map of an
    image). See ``Settings`` for every parameter."""
    settings = settings or Settings()
    n_images, _, shape, n_models, n_methods, include = _shapes(human_maps, model_maps, include)
    columns = settings.columns()
    needed = parts_needed(columns)
    index = {name: c for c, name in enumerate(columns)}
    ceiling_columns = [c for c in columns if c in settings.ceiling_metrics]
    other_ceiling = [c for c in ceiling_columns if c != "spearman"]
    ceiling_needed = parts_needed(other_ceiling)
    n_pixels = shape[0] * shape[1]
    n_participants = include.sum(axis=1)
    if (n_participants == 0).any():
        raise ValueError(
            f"images {np.flatnonzero(n_participants == 0).tolist()} have no included participant"
        )
    means = np.empty((n_images, n_pixels), dtype=np.float32)
    mean_ranks = np.empty((n_images, n_pixels), dtype=np.float32) if "spearman" in ceiling_columns else None
    scores = np.full((n_images, n_models, n_methods, len(columns)), np.nan)
    ceil = np.full((n_images, len(columns)), np.nan)
    floor = np.full((n_images, len(columns)), np.nan)
    timings = {}

    def image(i):
        xn = normalised_participants(human_maps[i], include[i], settings)
        block = np.asarray(model_maps[i])
        if not (np.isfinite(xn).all() and np.isfinite(block).all()):
            raise ValueError(f"maps must be finite (image {i})")
        mean = xn.mean(axis=0)
        if settings.blur:
            mean = harmonization_blur(mean.reshape(shape)).ravel()
            xn = harmonization_blur(xn.reshape(-1, *shape)).reshape(len(xn), -1)
        means[i] = mean
        ref = Reference(
            means[i], shape, settings, needed | ({"spearman"} if mean_ranks is not None else set())
        )
        if mean_ranks is not None:
            mean_ranks[i] = ref.rank_c + (n_pixels + 1) / 2
        maps = PreparedMaps(block.reshape(n_models * n_methods, -1), shape, settings, needed)
        rngs = [_rng(settings, _BORJI, i, row) for row in range(maps.m)] if "auc_borji" in needed else None
        scores[i] = score_prepared(maps, ref, settings, columns, rngs).reshape(
            n_models, n_methods, len(columns)
        )
        if not ceiling_columns or len(xn) < 2:
            return
        orders = ceiling.split_permutations(len(xn), settings.n_splits, _rng(settings, _CEILING, i))
        if "spearman" in ceiling_columns:
            ceil[i, index["spearman"]] = split_half_spearman(xn, orders)
        if other_ceiling:
            half_a, half_b = split_means(xn, orders)
            per_split = [
                score_prepared(
                    PreparedMaps(a[None], shape, settings, ceiling_needed),
                    Reference(b, shape, settings, ceiling_needed),
                    settings,
                    other_ceiling,
                )[0]
                for a, b in zip(half_a, half_b)
            ]
            ceil[i, [index[c] for c in other_ceiling]] = np.mean(per_split, axis=0)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(image, range(n_images)))
    timings["scores_and_ceilings"] = time.perf_counter() - started

    partners = ceiling.floor_partners(n_images, settings.floor_partners, _rng(settings, _FLOOR))

    def image_floor(i):
        row = partners[i]
        if "spearman" in ceiling_columns:
            own = mean_ranks[i].astype(np.float64)
            floor[i, index["spearman"]] = np.mean(
                [pearson_of_ranks(mean_ranks[j].astype(np.float64), own) for j in row]
            )
        if other_ceiling:
            others = PreparedMaps(means[row], shape, settings, ceiling_needed)
            values = score_prepared(
                others, Reference(means[i], shape, settings, ceiling_needed), settings, other_ceiling
            )
            floor[i, [index[c] for c in other_ceiling]] = values.mean(axis=0)

    started = time.perf_counter()
    if ceiling_columns and partners.shape[1]:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            list(pool.map(image_floor, range(n_images)))
    timings["floors"] = time.perf_counter() - started

    names = (_names(models, n_models, "model"), _names(methods, n_methods, "method"), image_ids)
    result = _summarised(settings, names, scores, ceil, floor, n_participants, timings, fast=True)
    if settings.hierarchical:
        started = time.perf_counter()
        result.hierarchical_ci = _hierarchical(human_maps, model_maps, include, scores, settings, workers)
        timings["hierarchical"] = time.perf_counter() - started
        _attach_hierarchical(result)
    return result


# --- the plain per-image loop ----------------------------------------------------------------


def analyse_study_loop(
    human_maps,
    model_maps,
    *,
    models: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    image_ids: Sequence | None = None,
    include: np.ndarray | None = None,
    settings: Settings | None = None,
) -> StudyAnalysis:
    """The same analysis as :func:`analyse_study`, written as the obvious loop: per image, the
    human mean (``human_maps.mean_map``), then each metric of ``analysis.metrics`` on each model
    map, ``ceiling.split_half`` and ``ceiling.mismatched_floor``, then scipy's ``bootstrap``
    per group and ``permutation_test`` per pair. The reference the fast path is checked
    against, and the baseline of ``benchmarks/analysis.py``."""
    settings = settings or Settings()
    n_images, _, shape, n_models, n_methods, include = _shapes(human_maps, model_maps, include)
    columns = settings.columns()
    timings = {}
    started = time.perf_counter()
    means = [
        mean_map(list(human_maps[i]), normalise=settings.normalise, include=include[i], blur=settings.blur)
        for i in range(n_images)
    ]
    timings["human_means"] = time.perf_counter() - started
    started = time.perf_counter()
    scores = np.full((n_images, n_models, n_methods, len(columns)), np.nan)
    functions = {name: column_metric(name, settings) for name in columns if name != "auc_borji"}
    for i in range(n_images):
        for m in range(n_models):
            for k in range(n_methods):
                s = model_maps[i][m][k]
                for c, name in enumerate(columns):
                    if name == "auc_borji":
                        rng = _rng(settings, _BORJI, i, m * n_methods + k)
                        scores[i, m, k, c] = metrics.auc_borji(
                            s,
                            means[i],
                            settings.binarise_k,
                            n_splits=settings.borji_splits,
                            step=settings.borji_step,
                            rng=rng,
                        )
                    else:
                        scores[i, m, k, c] = functions[name](s, means[i])
    ceil = np.full((n_images, len(columns)), np.nan)
    floor = np.full((n_images, len(columns)), np.nan)
    for c, name in enumerate(columns):
        if name not in settings.ceiling_metrics:
            continue
        for i in range(n_images):
            ceil[i, c] = ceiling.split_half(
                list(human_maps[i]),
                n_splits=settings.n_splits,
                rng=_rng(settings, _CEILING, i),
                metric=functions[name],
                normalise=settings.normalise,
                include=include[i],
                blur=settings.blur,
            )[0]
        floor[:, c] = ceiling.mismatched_floor(
            means, n_partners=settings.floor_partners, rng=_rng(settings, _FLOOR), metric=functions[name]
        )
    timings["scores_ceilings_floors"] = time.perf_counter() - started
    names = (_names(models, n_models, "model"), _names(methods, n_methods, "method"), image_ids)
    return _summarised(settings, names, scores, ceil, floor, include.sum(axis=1), timings, fast=False)


# --- across images: the loop's scipy references, and the summaries ---------------------------


def scipy_ci(values: np.ndarray, settings: Settings) -> tuple[float, float]:
    """The loop's CI of one group's mean: ``scipy.stats.bootstrap`` over its finite values."""
    kept = values[np.isfinite(values)]
    if kept.size < 2:
        return float("nan"), float("nan")
    result = scipy_stats.bootstrap(
        (kept,),
        np.mean,
        n_resamples=settings.n_bootstrap,
        confidence_level=settings.confidence,
        method="percentile",
        rng=_rng(settings, _BOOTSTRAP),
        vectorized=True,
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def scipy_pvalue(differences: np.ndarray, settings: Settings) -> tuple[float, float]:
    """The loop's test of one pair: ``scipy.stats.permutation_test`` of the finite per-image
    differences, (mean difference, p)."""
    kept = differences[np.isfinite(differences)]
    if kept.size == 0:
        return float("nan"), float("nan")
    result = scipy_stats.permutation_test(
        (kept,),
        lambda x, axis: np.mean(x, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=settings.n_permutations,
        alternative="two-sided",
        rng=_rng(settings, _PERMUTATION),
    )
    return float(result.statistic), float(result.pvalue)


def _summarised(settings, names, scores, ceil, floor, n_participants, timings, *, fast) -> StudyAnalysis:
    """The results of either path, with their summaries (timed as ``statistics``)."""
    models, methods, image_ids = names
    result = StudyAnalysis(
        settings=settings,
        models=models,
        methods=methods,
        image_ids=list(image_ids) if image_ids is not None else list(range(len(scores))),
        columns=settings.columns(),
        scores=scores,
        ceiling=ceil,
        ceiling_spearman_brown=ceiling.spearman_brown(ceil),
        floor=floor,
        n_participants=n_participants,
        timings=timings,
    )
    started = time.perf_counter()
    _summarise(result, fast=fast)
    timings["statistics"] = time.perf_counter() - started
    return result


def _tables(scores: np.ndarray) -> np.ndarray:
    """(columns, model x method groups, images) from scores (images, models, methods, columns)."""
    n_images, n_models, n_methods, n_columns = scores.shape
    return scores.reshape(n_images, n_models * n_methods, n_columns).transpose(2, 1, 0)


def pairwise_differences(scores: np.ndarray) -> tuple[list[tuple[int, int]], np.ndarray]:
    """(pairs of model x method groups, per-image differences (images, columns x pairs)),
    metric-major (``summaries.pair_differences`` of the score tables)."""
    return summaries.pair_differences(_tables(scores))


def _summarise(result: StudyAnalysis, *, fast: bool) -> None:
    """Fill ``summary`` (per model x method x metric) and ``comparisons`` (per metric x pair)
    with ``analysis.summaries``; the loop (``fast=False``) takes its CIs and p-values from
    scipy instead, one call per group and pair."""
    settings = result.settings
    n_images, n_models, n_methods, n_columns = result.scores.shape
    groups = [(m, k) for m in range(n_models) for k in range(n_methods)]
    tables = _tables(result.scores)
    series = tables.transpose(1, 0, 2).reshape(len(groups) * n_columns, n_images)  # group-major
    entries = summaries.mean_ci(
        series,
        n_resamples=settings.n_bootstrap,
        confidence=settings.confidence,
        seed=[settings.seed, _BOOTSTRAP],
        interval=None if fast else (lambda row: scipy_ci(row, settings)),
    )
    ceilings = {
        c: summaries.ceiling_summary(
            result.ceiling[:, c], result.ceiling_spearman_brown[:, c], result.floor[:, c]
        )
        for c, name in enumerate(result.columns)
        if name in settings.ceiling_metrics
    }
    result.summary = []
    for g, (m, k) in enumerate(groups):
        for c, name in enumerate(result.columns):
            row = {
                "model": result.models[m],
                "method": result.methods[k],
                "metric": name,
                "higher_is_better": name not in LOWER_IS_BETTER,
                **entries[g * n_columns + c],
            }
            if c in ceilings:
                _add_ceiling(row, ceilings[c], settings)
            result.summary.append(row)

    pairs, tests = summaries.paired_tests(
        tables,
        n_resamples=settings.n_permutations,
        seed=[settings.seed, _PERMUTATION],
        test=None if fast else (lambda differences: scipy_pvalue(differences, settings)),
    )
    result.comparisons = []
    for name, per_pair in zip(result.columns, tests):
        for (a, b), entry in zip(pairs, per_pair):
            (ma, ka), (mb, kb) = groups[a], groups[b]
            result.comparisons.append(
                {
                    "metric": name,
                    "model_a": result.models[ma],
                    "method_a": result.methods[ka],
                    "model_b": result.models[mb],
                    "method_b": result.methods[kb],
                    **entry,
                }
            )


def _add_ceiling(row: dict, ceiling_means: dict, settings: Settings) -> None:
    """The study's ceiling and floor of ``row``'s metric, and its mean (and CI) relative to
    them: ``normalised`` by the ceiling (split-half, or Spearman-Brown when
    ``settings.normalise_by`` says so), ``above_floor`` the share of the way from floor to
    ceiling."""
    top = ceiling_means["spearman_brown" if settings.normalise_by == "spearman_brown" else "split_half"]
    bottom = ceiling_means["floor"]
    row.update(
        ceiling=ceiling_means["split_half"],
        ceiling_spearman_brown=ceiling_means["spearman_brown"],
        floor=bottom,
        normalised_by=settings.normalise_by,
        above_floor=(row["mean"] - bottom) / (top - bottom) if top != bottom else float("nan"),
    )
    if row["metric"] not in LOWER_IS_BETTER:
        row.update(
            normalised=row["mean"] / top,
            normalised_ci_low=row["ci_low"] / top,
            normalised_ci_high=row["ci_high"] / top,
        )


# --- hierarchical bootstrap ----------------------------------------------------------------


def _hierarchical(human_maps, model_maps, include, scores, settings: Settings, workers: int) -> dict:
    """Percentile CIs of each model x method's mean when both images and, within each image,
    participants are resampled with replacement: per image, ``hierarchical_resamples`` human
    means of drawn participants, each model map scored against each
    (``batch_scores.participant_bootstrap``); then ``summaries.hierarchical_ci`` over the
    images where the group's score is defined, drawn as ``summaries.mean_ci`` draws them (same
    seed), so with one participant per image the interval is the image-level one. An image
    drawn twice in one resample reuses that resample's participant draw, as on the
    platform's results page. Costs ``hierarchical_resamples`` x images x (one ranking +
    scoring): minutes for a few hundred images, hours for thousands; holds the draws,
    images x groups x resamples x columns float64."""
    all_columns = settings.columns()
    columns = [c for c in all_columns if c in settings.hierarchical_metrics]
    n_images = len(include)
    n_models, n_methods = np.shape(model_maps)[1:3]

    def image(i):
        kept = np.asarray(human_maps[i])[include[i]]
        block = np.asarray(model_maps[i])
        return participant_bootstrap(
            kept,
            block.reshape(n_models * n_methods, *block.shape[-2:]),
            columns=columns,
            n_resamples=settings.hierarchical_resamples,
            rng=_rng(settings, _HIERARCHICAL, i),
            settings=settings,
        )

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        draws = list(pool.map(image, range(n_images)))  # per image (groups, resamples, columns)
    groups = scores.reshape(n_images, n_models * n_methods, len(all_columns))
    per_group = {}
    for g in range(n_models * n_methods):
        for c, name in enumerate(columns):
            defined = np.flatnonzero(np.isfinite(groups[:, g, all_columns.index(name)]))
            per_group[(g, c)] = np.array([draws[i][g, :, c] for i in defined]).reshape(
                len(defined), settings.hierarchical_resamples
            )
    cis = summaries.hierarchical_ci(
        per_group, confidence=settings.confidence, seed=[settings.seed, _BOOTSTRAP]
    )
    low = np.array([[cis[(g, c)][0] for c in range(len(columns))] for g in range(n_models * n_methods)])
    high = np.array([[cis[(g, c)][1] for c in range(len(columns))] for g in range(n_models * n_methods)])
    return {"columns": columns, "low": low, "high": high}


def _attach_hierarchical(result: StudyAnalysis) -> None:
    info = result.hierarchical_ci
    n_methods = len(result.methods)
    for row in result.summary:
        if row["metric"] in info["columns"]:
            g = result.models.index(row["model"]) * n_methods + result.methods.index(row["method"])
            c = info["columns"].index(row["metric"])
            row["hierarchical_ci_low"] = float(info["low"][g, c])
            row["hierarchical_ci_high"] = float(info["high"][g, c])

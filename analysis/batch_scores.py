"""The batched kernel: every metric of many model maps against one human map, and the split-half
ceiling of one image's participants, with the numbers of ``analysis.metrics`` and
``analysis.ceiling`` (to rounding; ``tests/analysis/test_batch_kernel.py`` checks it) in a
fraction of the time, because it

- ranks each map once, with a linear-time radix sort (``analysis.ranking``), and derives
  Spearman, AUC-Judd, AUC-Borji's thresholds and the top-k thresholds from those ranks and the
  sorted values instead of calling scipy per metric;
- computes moments, correlations and masked means for all of an image's maps with matrix
  products, and the split-half means of all splits with two.

``score_maps``, ``split_half_ceiling`` and ``participant_bootstrap(_spearman)`` take one
image's arrays (the platform's per-image scores cache calls them); ``PreparedMaps``,
``Reference`` and ``score_prepared`` are the building blocks that ``analysis.pipeline``'s whole-
study analysis reuses across references. ``Settings`` holds every parameter of an analysis and
``column_metric`` the plain per-map function of each metric column (the reference the kernel is
checked against). Everything here works on one image at a time, so a faster kernel changes
this module alone.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analysis import ceiling, metrics
from analysis.emd import default_grid, downsample, emd_of_downsampled
from analysis.human_maps import harmonization_blur
from analysis.metrics import BINARISE_K
from analysis.ranking import nonnegative_spearman, rank_and_sort

METRICS = ("spearman", "cc", "sim", "kld", "nss", "auc_judd", "auc_borji", "topk_iou", "topk_dice", "emd")
LOWER_IS_BETTER = ("kld", "emd")
_RANDOM = ("auc_borji",)


@dataclass(frozen=True)
class Settings:
    """Every parameter of an analysis; recorded with its results."""

    normalise: str = "minmax"
    blur: bool = False
    metrics: tuple[str, ...] = METRICS
    binarise_k: float = BINARISE_K
    topk: tuple[float, ...] = (0.1, 0.3)
    emd_grid: tuple[int, int] | None = None
    emd_match_histogram: bool = True
    borji_splits: int = 100
    borji_step: float = 0.1
    n_splits: int = 50
    ceiling_metrics: tuple[str, ...] = ("spearman",)
    floor_partners: int = 5
    normalise_by: str = "split_half"  # or "spearman_brown"
    n_bootstrap: int = 1000
    confidence: float = 0.95
    n_permutations: int = 9999
    hierarchical: bool = False
    hierarchical_metrics: tuple[str, ...] = ("spearman",)
    hierarchical_resamples: int = 1000
    seed: int = 0

    def __post_init__(self):
        unknown = set(self.metrics) - set(METRICS)
        if unknown:
            raise ValueError(f"unknown metrics {sorted(unknown)}; known: {METRICS}")
        columns = self.columns()
        for name in (*self.ceiling_metrics, *(self.hierarchical_metrics if self.hierarchical else ())):
            if name not in columns:
                raise ValueError(f"{name!r} is not one of the computed columns {columns}")
            if name in _RANDOM:
                raise ValueError(f"{name} draws random negatives; no ceiling/floor/hierarchical CI for it")
        if self.normalise_by not in ("split_half", "spearman_brown"):
            raise ValueError("normalise_by is 'split_half' or 'spearman_brown'")

    def columns(self) -> list[str]:
        """Metric columns: topk_iou/topk_dice expand to one column per k (top10_iou, ...)."""
        out = []
        for name in METRICS:
            if name not in self.metrics:
                continue
            if name in ("topk_iou", "topk_dice"):
                out += [topk_column(name, k) for k in self.topk]
            else:
                out.append(name)
        return out


def topk_column(name: str, k: float) -> str:
    return f"top{round(k * 100)}_{name.split('_')[1]}"


def topk_of(column: str, settings: Settings) -> float:
    return next(
        k for k in settings.topk for kind in ("topk_iou", "topk_dice") if topk_column(kind, k) == column
    )


# --- the batched kernel --------------------------------------------------------------------


class Reference:
    """One human map (float32, flattened) and what every metric needs from it."""

    def __init__(self, human: np.ndarray, shape: tuple[int, int], settings: Settings, needed: set[str]):
        h32 = np.asarray(human, dtype=np.float32).ravel()
        self.n = n = h32.size
        self.values = v = h32.astype(np.float64)
        self.constant = v[0] == v.max() == v.min()
        ranks, sorted32 = rank_and_sort(h32)
        self.sorted = sorted32.astype(np.float64)
        self.fixations = None
        if "spearman" in needed:
            self.rank_c = ranks - (n + 1) / 2
            self.rank_norm = np.sqrt(self.rank_c @ self.rank_c)
        if "cc" in needed:
            self.centred = v - v.mean()
            self.norm = np.sqrt(self.centred @ self.centred)
        if "sim" in needed:
            self.sim = metrics._minmax_then_sum(v)
        if "kld" in needed:
            q = metrics._to_distribution(v)
            self.support = np.flatnonzero(q > 0)
            self.q = q[self.support]
        if needed & {"nss", "auc_judd", "auc_borji"}:
            threshold = metrics.quantile_of_sorted(self.sorted, 1.0 - settings.binarise_k)
            self.fixations = np.flatnonzero(v > threshold)
        self.topk = {}
        for k in settings.topk if "topk" in needed else ():
            threshold = metrics.quantile_of_sorted(self.sorted, 1.0 - k)
            self.topk[k] = np.flatnonzero(v > threshold)
        if "emd" in needed:
            grid = settings.emd_grid or default_grid(shape)
            self.cells = downsample(v.reshape(shape), tuple(grid))


class PreparedMaps:
    """Saliency maps (m, n) float32 and their reference-independent preparation (ranks,
    sorted values, moments), reusable against several references."""

    def __init__(self, maps: np.ndarray, shape: tuple[int, int], settings: Settings, needed: set[str]):
        s32 = np.ascontiguousarray(maps, dtype=np.float32).reshape(len(maps), -1)
        self.m, self.n = m, n = s32.shape
        self.values = s = s32.astype(np.float64)
        self.sorted = np.empty_like(s)
        want_ranks = bool(needed & {"spearman", "auc_judd"})
        self.ranks = np.empty_like(s) if want_ranks else None
        for row in range(m):
            _, self.sorted[row] = rank_and_sort(s32[row], out=self.ranks[row] if want_ranks else None)
        self.low, self.high = low, high = self.sorted[:, 0].copy(), self.sorted[:, -1].copy()
        self.constant = constant = low == high
        spread = np.where(constant, 1.0, high - low)[:, None]
        if "spearman" in needed:
            # Ranks are multiples of 1/2: exact in float64 up to about 190 000 pixels.
            squares = np.einsum("ij,ij->i", self.ranks, self.ranks)
            self.rank_norm = np.sqrt(squares - n * ((n + 1) / 2) ** 2)
        if needed & {"cc", "nss", "kld"}:
            self.row_sum = s.sum(axis=1)
            self.mean = self.row_sum / n
        if needed & {"cc", "nss"}:
            self.centred = s - self.mean[:, None]
            self.centred_sq = np.einsum("ij,ij->i", self.centred, self.centred)
        if "nss" in needed:
            self.std = np.sqrt(self.centred_sq / (n - 1))
        if "sim" in needed:  # metrics._minmax_then_sum, row by row
            scaled = s - low[:, None]
            scaled /= spread  # in place: each 8 MB temporary costs more than the arithmetic
            with np.errstate(invalid="ignore"):
                scaled /= scaled.sum(axis=1, keepdims=True)
            self.sim = scaled
            self.sim[constant] = np.nan
            self.sim[constant & (low == 0)] = 0.0
        if "kld" in needed:
            self.shift = np.minimum(low, 0.0)
            self.total = self.row_sum.copy()
            for row in np.flatnonzero(low < 0):
                self.total[row] = (s[row] - low[row]).sum()
        if "auc_borji" in needed:
            thresholds = metrics.borji_thresholds(settings.borji_step)
            self.borji_thresholds = thresholds
            at_or_above = np.zeros((m, thresholds.size + 1))
            for row in np.flatnonzero(~constant):
                at_or_above[row, :-1] = _count_normalised_at_least(
                    self.sorted[row], low[row], high[row], thresholds
                )
            self.borji_share = (at_or_above[:, :-1] - at_or_above[:, 1:]) / n
        self.topk = {}
        for k in settings.topk if "topk" in needed else ():
            thresholds = np.array([metrics.quantile_of_sorted(row, 1.0 - k) for row in self.sorted])
            above = np.array(
                [n - np.searchsorted(row, t, side="right") for row, t in zip(self.sorted, thresholds)]
            )
            self.topk[k] = (thresholds, above)
        if "emd" in needed:
            grid = settings.emd_grid or default_grid(shape)
            self.cells = downsample(s.reshape(m, *shape), tuple(grid))


def _count_normalised_at_least(
    ordered: np.ndarray, low: float, high: float, thresholds: np.ndarray
) -> np.ndarray:
    """For ascending ``ordered``, how many x have (x - low) / (high - low) >= t, for each t,
    with exactly that rounding (as ``metrics.auc_borji`` computes it on the whole map), but
    from a binary search instead of normalising every pixel."""
    n, spread = ordered.size, high - low
    counts = np.empty(thresholds.size)
    for j, t in enumerate(thresholds):
        i = int(np.searchsorted(ordered, low + t * spread, side="left"))
        while i > 0 and (ordered[i - 1] - low) / spread >= t:
            i = int(np.searchsorted(ordered, ordered[i - 1], side="left"))
        while i < n and (ordered[i] - low) / spread < t:
            i = int(np.searchsorted(ordered, ordered[i], side="right"))
        counts[j] = n - i
    return counts


def score_prepared(
    maps: PreparedMaps,
    ref: Reference,
    settings: Settings,
    columns: Sequence[str],
    borji_rngs: Sequence[np.random.Generator] | None = None,
) -> np.ndarray:
    """(m, len(columns)) scores of the prepared maps against one reference."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return _score_columns(maps, ref, settings, columns, borji_rngs)


def _score_columns(maps, ref, settings, columns, borji_rngs) -> np.ndarray:
    out = np.full((maps.m, len(columns)), np.nan)
    s = maps.values
    at_fixations = s[:, ref.fixations] if ref.fixations is not None else None
    both_topk = {}
    for c, name in enumerate(columns):
        if name == "spearman":
            if not ref.constant:
                value = maps.ranks @ ref.rank_c / (maps.rank_norm * ref.rank_norm)
                out[:, c] = np.where(maps.constant, np.nan, value)
        elif name == "cc":
            if not ref.constant:
                value = maps.centred @ ref.centred / np.sqrt(maps.centred_sq) / ref.norm
                out[:, c] = np.where(maps.constant, np.nan, value)
        elif name == "sim":
            if not np.isnan(ref.sim).all():
                value = np.minimum(maps.sim, ref.sim).sum(axis=1)
                out[:, c] = np.where(np.isnan(maps.sim).all(axis=1), np.nan, value)
        elif name == "kld":  # metrics.kld, operation for operation, on the human map's support
            p = s[:, ref.support]
            if (maps.shift < 0).any():
                p -= maps.shift[:, None]
            p /= np.where(maps.total > 0, maps.total, 1)[:, None]
            p += metrics.EPS
            np.divide(ref.q, p, out=p)
            p += metrics.EPS
            np.log(p, out=p)
            p *= ref.q
            out[:, c] = p.sum(axis=1)
        elif name == "nss":
            if ref.fixations.size:
                value = (at_fixations.mean(axis=1) - maps.mean) / maps.std
                out[:, c] = np.where(maps.constant, np.nan, value)
        elif name == "auc_judd":
            out[:, c] = _auc_judd(maps, ref, at_fixations)
        elif name == "auc_borji":
            out[:, c] = _auc_borji(maps, ref, settings, borji_rngs, at_fixations)
        elif name == "emd":
            for row in range(maps.m):
                out[row, c] = emd_of_downsampled(
                    maps.cells[row], ref.cells, match_histogram_=settings.emd_match_histogram
                )
        else:  # top-k IoU / Dice
            k = topk_of(name, settings)
            thresholds, above = maps.topk[k]
            human = ref.topk[k]
            if k not in both_topk:
                both_topk[k] = (s[:, human] > thresholds[:, None]).sum(axis=1)
            both = both_topk[k]
            if name.endswith("_iou"):
                union = above + human.size - both
                out[:, c] = np.where(union > 0, both / np.where(union > 0, union, 1), np.nan)
            else:
                total = above + human.size
                out[:, c] = np.where(total > 0, 2 * both / np.where(total > 0, total, 1), np.nan)
    return out


def _auc_judd(maps: PreparedMaps, ref: Reference, at_fixations: np.ndarray) -> np.ndarray:
    n, fixations = maps.n, ref.fixations
    n_pos, n_neg = fixations.size, maps.n - fixations.size
    if n_pos == 0 or n_neg == 0:
        return np.full(maps.m, np.nan)
    rank_sum = maps.ranks[:, fixations].sum(axis=1)
    mann_whitney = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    lowest = at_fixations.min(axis=1)
    tied_pos = (at_fixations == lowest[:, None]).sum(axis=1)
    out = np.empty(maps.m)
    for row in range(maps.m):
        ordered = maps.sorted[row]
        first = np.searchsorted(ordered, lowest[row], side="left")
        last = np.searchsorted(ordered, lowest[row], side="right")
        negatives_above = (n - last) - (n_pos - tied_pos[row])
        tied_neg = (last - first) - tied_pos[row]
        fp_last = (negatives_above + tied_neg * tied_pos[row] / (tied_pos[row] + 1)) / n_neg
        out[row] = mann_whitney[row] + fp_last / (2 * n_pos)
    return out


def _auc_borji(
    maps: PreparedMaps, ref: Reference, settings: Settings, rngs, at_fixations: np.ndarray
) -> np.ndarray:
    n_pos = ref.fixations.size
    out = np.full(maps.m, np.nan)
    rows = np.flatnonzero(~maps.constant)
    if n_pos == 0 or not rows.size:
        return out
    thresholds = maps.borji_thresholds
    low, high = maps.low[rows, None], maps.high[rows, None]
    normalised = (at_fixations[rows] - low) / (high - low)  # as metrics.auc_borji, pixel for pixel
    # v >= t_j exactly when v's bin (the last threshold <= v) is j or above
    bins = np.searchsorted(thresholds, normalised.ravel(), side="right") - 1
    offsets = np.repeat(np.arange(rows.size) * thresholds.size, n_pos)
    per_bin = np.bincount(bins + offsets, minlength=rows.size * thresholds.size).reshape(rows.size, -1)
    at_or_above = np.cumsum(per_bin[:, ::-1], axis=1)[:, ::-1]
    tp = at_or_above / n_pos
    counts = np.stack(
        [rngs[row].multinomial(n_pos, maps.borji_share[row], size=settings.borji_splits) for row in rows]
    )
    out[rows] = metrics.borji_curve_area(tp, counts, n_pos)
    return out


# --- participants' maps ------------------------------------------------------------------


def normalised_participants(maps: np.ndarray, include: np.ndarray, settings: Settings) -> np.ndarray:
    """(participants kept, H*W) float64: each kept participant's map normalised on its own,
    element for element as ``human_maps.normalise_participant`` does."""
    kept = np.asarray(maps)[np.asarray(include, dtype=bool)]
    flat = kept.reshape(len(kept), -1)
    if not len(flat):
        return flat.astype(np.float64)
    low = flat.min(axis=1).astype(np.float64)[:, None]
    high = flat.max(axis=1).astype(np.float64)[:, None]
    constant = (high <= low)[:, 0]
    if settings.normalise == "minmax":
        out = np.subtract(flat, low, dtype=np.float64)
        out /= np.where(high > low, high - low, 1)
    elif settings.normalise == "sum":
        if (low < 0).any():
            raise ValueError("sum-to-one needs maps without negative values")
        out = flat.astype(np.float64)
        out /= out.sum(axis=1, keepdims=True)
    else:
        out = np.empty(flat.shape)
        for row in range(len(flat)):
            ranks = rank_and_sort(flat[row])[0]
            out[row] = (ranks - ranks.min()) / max(ranks.max() - ranks.min(), 1e-300)
    out[constant] = 0.0
    return out


def parts_needed(columns: Sequence[str]) -> set[str]:
    return {"topk" if name.startswith("top") else name for name in columns}


def pearson_of_ranks(a: np.ndarray, b: np.ndarray) -> float:
    n = a.size
    a, b = a - (n + 1) / 2, b - (n + 1) / 2
    denominator = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / denominator) if denominator > 0 else float("nan")


def split_means(
    xn: np.ndarray, orders: np.ndarray, total: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Half-A and half-B means of every split (float32): A with one matrix product, B from
    the participants' ``total`` (``xn.sum(axis=0)``) minus A's sum. Each mean is divided in
    float64 and then rounded, as ``human_maps.mean_map`` does; the large arrays are reused
    in place (fresh 10 MB arrays cost page faults)."""
    splits, count = orders.shape
    half = count // 2
    weights = np.zeros((splits, count))
    weights[np.arange(splits)[:, None], orders[:, :half]] = 1.0
    sums = weights @ xn
    half_a = np.divide(sums, half, out=np.empty(sums.shape, dtype=np.float32))
    np.subtract(xn.sum(axis=0) if total is None else total, sums, out=sums)
    half_b = np.divide(sums, count - half, out=np.empty(sums.shape, dtype=np.float32))
    return half_a, half_b


def split_half_spearman(xn: np.ndarray, orders: np.ndarray) -> float:
    """Mean Spearman between the half means of every split. Pixels no participant painted
    (zero in every normalised map, so in every half mean; normalised maps are never
    negative) are left out of the sort and enter the sums as one block of zeros
    (``ranking.nonnegative_spearman``, exact sums of ranks)."""
    total = xn.sum(axis=0)
    active = np.flatnonzero(total > 0)
    half_a, half_b = split_means(np.ascontiguousarray(xn[:, active]), orders, total[active])
    return float(np.mean(nonnegative_spearman(half_a, half_b, xn.shape[1] - active.size)))


# --- one image's arrays (the platform's results, per-image bootstraps) ----------------------


def score_maps(model_maps, human_map, settings: Settings | None = None) -> np.ndarray:
    """Scores of several model maps (m, H, W) against one human map (H, W): (m, columns) in
    the order of ``settings.columns()``, each equal to the ``analysis.metrics`` function on
    that pair (AUC-Borji drawing from a generator seeded with ``settings.seed``, as
    ``metrics.auc_borji(..., rng=seed)`` does), computed in one batch."""
    settings = settings or Settings()
    human = np.asarray(human_map)
    maps = np.asarray(model_maps)
    if human.ndim != 2 or maps.ndim != 3 or maps.shape[1:] != human.shape:
        raise ValueError(
            f"need model maps (m, H, W) and a human map (H, W), got {maps.shape} and {human.shape}"
        )
    if not (np.isfinite(human).all() and np.isfinite(maps).all()):
        raise ValueError("maps must be finite")
    columns = settings.columns()
    needed = parts_needed(columns)
    if not len(maps):
        return np.empty((0, len(columns)))
    rngs = [np.random.default_rng(settings.seed) for _ in maps] if "auc_borji" in needed else None
    prepared = PreparedMaps(maps.reshape(len(maps), -1), human.shape, settings, needed)
    return score_prepared(prepared, Reference(human, human.shape, settings, needed), settings, columns, rngs)


def split_half_ceiling(participant_maps, settings: Settings | None = None, rng=0) -> tuple[float, float]:
    """``ceiling.split_half(maps, n_splits=settings.n_splits, rng=rng,
    normalise=settings.normalise)`` with the Spearman metric, the same two numbers, fast:
    (mean split-half Spearman, its Spearman-Brown value); NaN with fewer than two maps."""
    settings = settings or Settings()
    if settings.blur:
        raise ValueError(
            "split_half_ceiling does not blur; use analysis.pipeline.analyse_study for blurred maps"
        )
    maps = np.asarray(participant_maps)
    if maps.ndim != 3:
        raise ValueError(f"need participant maps (P, H, W), got {maps.shape}")
    if len(maps) < 2:
        return float("nan"), float("nan")
    xn = normalised_participants(maps, np.ones(len(maps), dtype=bool), settings)
    orders = ceiling.split_permutations(len(xn), settings.n_splits, np.random.default_rng(rng))
    r = split_half_spearman(xn, orders)
    return r, float(ceiling.spearman_brown(r))


def participant_bootstrap(
    participant_maps,
    model_maps,
    *,
    columns: Sequence[str] = ("spearman",),
    n_resamples: int = 1000,
    rng=0,
    settings: Settings | None = None,
) -> np.ndarray:
    """(models, n_resamples, columns): each model map's scores with the human mean when the
    image's participants are drawn with replacement, one draw per resample (the inner level of
    the hierarchical bootstrap; ``stats.hierarchical_bootstrap_ci`` does the outer one). The
    resampled mean is blurred when ``settings.blur`` says so; ``columns`` are computed columns
    of ``settings`` that draw nothing at random (not AUC-Borji)."""
    settings = settings or Settings()
    maps = np.asarray(participant_maps)
    models = np.asarray(model_maps)
    if maps.ndim != 3 or models.ndim != 3 or maps.shape[1:] != models.shape[1:]:
        raise ValueError(
            f"need participant maps (P, H, W) and model maps (m, H, W), got {maps.shape}, {models.shape}"
        )
    columns = list(columns)
    computed = settings.columns()
    for name in columns:
        if name not in computed or name in _RANDOM:
            raise ValueError(f"{name!r} is not a computed column without random draws ({computed})")
    shape = maps.shape[1:]
    xn = normalised_participants(maps, np.ones(len(maps), dtype=bool), settings)
    needed = parts_needed(columns)
    prepared = PreparedMaps(models.reshape(len(models), -1), shape, settings, needed)
    chosen = np.random.default_rng(rng).integers(0, len(xn), (n_resamples, len(xn)))
    out = np.empty((len(models), n_resamples, len(columns)))
    for start in range(0, n_resamples, 50):  # 50 means at a time: 20 MB at 224 x 224
        block = chosen[start : start + 50]
        weights = np.stack([np.bincount(row, minlength=len(xn)) for row in block]) / len(xn)
        means = weights @ xn
        if settings.blur:
            means = harmonization_blur(means.reshape(len(means), *shape)).reshape(len(means), -1)
        for offset, mean in enumerate(means.astype(np.float32)):
            reference = Reference(mean, shape, settings, needed)
            out[:, start + offset] = score_prepared(prepared, reference, settings, columns)
    return out


def participant_bootstrap_spearman(
    participant_maps, model_maps, *, n_resamples: int = 1000, rng=0, settings: Settings | None = None
) -> np.ndarray:
    """(models, n_resamples): ``participant_bootstrap`` of the Spearman column alone."""
    return participant_bootstrap(
        participant_maps,
        model_maps,
        columns=("spearman",),
        n_resamples=n_resamples,
        rng=rng,
        settings=settings,
    )[:, :, 0]


# --- the plain per-map functions --------------------------------------------------------------


def column_metric(name: str, settings: Settings):
    """The per-image function (saliency_map, human_map) -> float of a column (not AUC-Borji,
    which takes its random generator separately)."""
    k = settings.binarise_k
    plain = {
        "spearman": metrics.spearman,
        "cc": metrics.cc,
        "sim": metrics.sim,
        "kld": metrics.kld,
        "nss": lambda s, h: metrics.nss(s, h, k),
        "auc_judd": lambda s, h: metrics.auc_judd(s, h, k),
        "emd": lambda s, h: metrics.emd(
            s, h, grid=settings.emd_grid, match_histogram=settings.emd_match_histogram
        ),
    }
    if name in plain:
        return plain[name]
    top = topk_of(name, settings)
    function = metrics.topk_iou if name.endswith("_iou") else metrics.topk_dice
    return lambda s, h: function(s, h, top)

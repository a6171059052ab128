"""Fast average ranks of one flattened map, at float32 precision.

Ranking is most of the cost of a study analysis (Spearman needs the ranks of every model map
and of both halves of every split-half ceiling: about 120 000 maps for 1 000 images). Float32
values map to uint32 keys that sort in the same order, and two ways of sorting them beat a
comparison argsort of the floats:

- ``packed``: each key goes in the high half of a uint64 and its index in the low half, and
  the uint64s are sorted by value. numpy sorts 64-bit integers with its vectorised
  (x86-simd-sort) quicksort where the CPU has AVX2 or AVX-512, about 0.3 ms for 50 000 here
  in a reused buffer, and the sorted words hold both the order and the sorted keys; equal
  keys keep their index order, so the result is a stable sort.
- ``radix``: numpy's stable argsort of 16-bit integers is a radix sort, so two 16-bit passes
  sort the keys in linear time (about 0.8 ms), for CPUs where the first way falls back to a
  scalar sort.

The first ranking in a process times both on 50 000 keys and keeps the faster
(:func:`use_strategy` forces one). Both give the same order, so results never depend on it.

Pixels at the map's minimum (the unpainted background of a human map) form one tie block;
they are set aside before sorting, which halves the work on sparse maps.

The results equal ``scipy.stats.rankdata(values.astype(np.float32))`` exactly; the metrics
rank at float32 precision on purpose (see ``analysis.metrics``).
"""

import sys
import threading
import time

import numpy as np

_SIGN = np.uint32(0x80000000)
_LOW_WORD, _HIGH_WORD = (0, 1) if sys.byteorder == "little" else (1, 0)
STRATEGIES = ("packed", "radix")
_strategy: str | None = None
_indices = np.arange(0, dtype=np.uint32)
_scratch = threading.local()
_SCRATCH_MAX = 1 << 20  # 8 MB per thread at most


def float32_keys(values: np.ndarray) -> np.ndarray:
    """uint32 keys in the order of the float32 values (finite values only): flip the sign bit
    of non-negative floats and every bit of negative ones. -0.0 is folded onto +0.0 first."""
    bits = (np.asarray(values, dtype=np.float32) + np.float32(0.0)).view(np.int32)
    flip = (bits >> 31).view(np.uint32) | _SIGN  # arithmetic shift: all ones where negative
    return bits.view(np.uint32) ^ flip


def keys_to_float32(keys: np.ndarray) -> np.ndarray:
    """Inverse of :func:`float32_keys`."""
    keys = np.asarray(keys, dtype=np.uint32)
    flip = ((keys ^ _SIGN).view(np.int32) >> 31).view(np.uint32) | _SIGN
    return (keys ^ flip).view(np.float32)


def _scratch_words(n: int) -> np.ndarray:
    """n uint64 words to sort in: the calling thread's reused buffer up to _SCRATCH_MAX words
    (a fresh 400 KB array per 224x224 map costs more in page faults than the sort itself),
    a fresh array beyond. Nothing returned refers to it."""
    if n > _SCRATCH_MAX:
        return np.empty(n, dtype=np.uint64)
    buffer = getattr(_scratch, "words", None)
    if buffer is None or buffer.size < n:
        buffer = _scratch.words = np.empty(max(n, 65_536), dtype=np.uint64)
    return buffer[:n]


def _packed_sort(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    global _indices
    n = keys.size
    if _indices.size < n:
        _indices = np.arange(max(n, 2 * _indices.size), dtype=np.uint32)  # swapped whole: thread-safe
    words = _scratch_words(n)
    halves = words.view(np.uint32).reshape(n, 2)
    halves[:, _HIGH_WORD] = keys
    halves[:, _LOW_WORD] = _indices[:n]
    words.sort()
    return halves[:, _LOW_WORD].astype(np.intp), halves[:, _HIGH_WORD].copy()


def _radix_sort(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    low = np.argsort(keys.astype(np.uint16), kind="stable")
    high = (keys >> np.uint32(16)).astype(np.uint16)[low]
    order = low[np.argsort(high, kind="stable")]
    return order, keys[order]


def _fastest_strategy() -> str:
    keys = np.random.default_rng(0).integers(0, 2**32, 50_000, dtype=np.uint32)
    best = {}
    for name, sort in (("packed", _packed_sort), ("radix", _radix_sort)):
        times = []
        for _ in range(7):
            started = time.perf_counter()
            sort(keys)
            times.append(time.perf_counter() - started)
        best[name] = min(times)
    return min(best, key=best.get)


def use_strategy(name: str | None) -> None:
    """Force a sorting strategy (one of ``STRATEGIES``), or None to time them again."""
    global _strategy
    if name is not None and name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    _strategy = name


def strategy() -> str:
    """The sorting strategy in use, timing them on first use."""
    global _strategy
    if _strategy is None:
        _strategy = _fastest_strategy()
    return _strategy


def sort_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, sorted keys) of 1-D uint32 keys: a stable ascending sort."""
    keys = np.ascontiguousarray(keys, dtype=np.uint32)
    return (_packed_sort if strategy() == "packed" else _radix_sort)(keys)


def _ranks_in_sorted_order(sorted_keys: np.ndarray, before: int) -> np.ndarray:
    """Average ranks of ascending keys that follow ``before`` smaller values: each run of
    equal keys at positions [start, end) shares the rank before + (start + end + 1) / 2."""
    m = sorted_keys.size
    boundary = np.empty(m + 1, dtype=bool)
    boundary[0] = boundary[m] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=boundary[1:m])
    edges = np.flatnonzero(boundary)
    return np.repeat((edges[:-1] + edges[1:] + 1) * 0.5 + before, np.diff(edges))


def rank_and_order(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(average ranks, 1-based, float64; the order that sorts the values ascending) of a
    1-D array at float32 precision; ``values[order]`` is sorted."""
    ranks, order, _ = rank_order_and_sort(values)
    return ranks, order


def rank_order_and_sort(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(average ranks, 1-based, float64; the sorting order; the values sorted ascending,
    float32) of a 1-D array at float32 precision."""
    keys = float32_keys(values).ravel()
    n = keys.size
    ranks = np.empty(n, dtype=np.float64)
    lowest = keys.min()
    at_min = keys == lowest
    n_min = int(np.count_nonzero(at_min))
    if n_min > 1:
        minimum = np.flatnonzero(at_min)
        rest = np.flatnonzero(~at_min)
        rest_order, rest_sorted = sort_keys(keys[rest])
        tail = rest[rest_order]
        order = np.concatenate((minimum, tail))
        sorted_keys = np.concatenate((np.full(n_min, lowest, dtype=np.uint32), rest_sorted))
        ranks[minimum] = (n_min + 1) / 2
    else:
        n_min = 0
        order, sorted_keys = sort_keys(keys)
        tail, rest_sorted = order, sorted_keys
    ranks[tail] = _ranks_in_sorted_order(rest_sorted, n_min)
    return ranks, order, keys_to_float32(sorted_keys)


def rank_and_sort(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(average ranks, 1-based, float64; the values sorted ascending, float32) of a 1-D array."""
    ranks, _, sorted32 = rank_order_and_sort(values)
    return ranks, sorted32


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties share their mean rank) of the flattened values."""
    return rank_and_sort(values)[0]


def nonnegative_ranks(values: np.ndarray, extra_zeros: int = 0) -> tuple[np.ndarray, float]:
    """Average ranks of non-negative float32 ``values`` within the vector they form together
    with ``extra_zeros`` more zeros (pixels left out because they are zero in every map of an
    image): (ranks of ``values``, the rank every zero shares). Non-negative floats sort like
    their bit patterns, so no key transform is needed; the zeros sort first."""
    values = np.ascontiguousarray(values, dtype=np.float32).ravel() + np.float32(0.0)  # -0.0 to 0.0
    order, sorted_keys = sort_keys(values.view(np.uint32))
    ranks_sorted = _ranks_in_sorted_order(sorted_keys, extra_zeros)
    n_zero = int(np.searchsorted(sorted_keys, 1))  # zeros among values: the first tie block
    zero_rank = (n_zero + extra_zeros + 1) / 2
    ranks_sorted[:n_zero] = zero_rank
    ranks = np.empty(values.size)
    ranks[order] = ranks_sorted
    return ranks, zero_rank

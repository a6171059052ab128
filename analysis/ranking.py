"""Fast average ranks of one flattened map, at float32 precision.

Ranking is most of the cost of a study analysis (Spearman needs the ranks of every model map
and of both halves of every split-half ceiling: about 120 000 maps for 1 000 images). Float32
values map to uint32 keys that sort in the same order, and three ways of sorting them beat a
comparison argsort of the floats:

- ``compiled``: a stable LSD radix sort (three passes of 11 bits; a pass is skipped when every
  key has the same digit) in a numba kernel, which computes the average ranks and the sorted
  values in the same call. Linear time, no comparison sort at all, so it does not depend on
  how fast this CPU's numpy sorts: under 1 ms for a 224x224 map, keys, ranks and sorted
  values included, on the AMD EPYC (Zen 4) development machine. numba is imported and the
  kernel compiled (or loaded from numba's on-disk cache) at the first ranking, not at import:
  web processes import this module and only some of them rank.
- ``packed``: each key goes in the high half of a uint64 and its index in the low half, and
  the uint64s are sorted by value with ``np.sort``. Where numpy's vectorised (x86-simd-sort)
  quicksort is fast this takes about 0.3 ms for 50 000 keys, but on AMD Zen 4 it spends 90 %
  of its time in AVX-512 ``vpcompressq`` stores to memory, which that CPU runs in microcode:
  1.8 ms there, slower than the radix sort.
- ``radix``: numpy's stable argsort of 16-bit integers is a radix sort, so two 16-bit passes
  sort the keys in linear time (about 1 ms).

The first ranking in a process times them on a 224x224 map's worth of keys and keeps the
fastest (:func:`use_strategy` forces one; without numba only the numpy two are timed). All
give the same order and the same ranks, so results never depend on the choice.

In the numpy strategies, pixels at the map's minimum (the unpainted background of a human
map) form one tie block; they are set aside before sorting, which halves the work on sparse
maps.

The results equal ``scipy.stats.rankdata(values.astype(np.float32))`` exactly; the metrics
rank at float32 precision on purpose (see ``analysis.metrics``).
"""

import sys
import threading
import time

import numpy as np

_SIGN = np.uint32(0x80000000)
_LOW_WORD, _HIGH_WORD = (0, 1) if sys.byteorder == "little" else (1, 0)
STRATEGIES = ("packed", "radix", "compiled")
_strategy: str | None = None
_indices = np.arange(0, dtype=np.uint32)
_scratch = threading.local()
_SCRATCH_MAX = 1 << 20  # 8 MB per thread at most (packed); 12 MB (compiled)


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


# --- the compiled strategy ------------------------------------------------------------------


def _radix_rank_kernel(bits, floats, extra_zeros, ranks, sorted_out, order_out, key_a, key_b, ord_a, ord_b):
    """Stable LSD radix sort of n uint32 ``bits`` (float32 bit patterns when ``floats``,
    turned into order-preserving keys as :func:`float32_keys` does), then, for each output
    of size n (a size-0 array skips it): the average ranks (1-based, ties share their mean;
    a run of key 0 also ties with ``extra_zeros`` zeros not in the input, and every other
    rank is shifted by them, as :func:`nonnegative_ranks` needs), the sorted values (floats
    back from the keys, -0.0 as +0.0) and the order. key_a/key_b/ord_a/ord_b: n-element
    scratch. Compiled by numba (nopython, nogil) at first use."""
    n = bits.size
    keys = key_b
    if floats:
        for i in range(n):
            b = bits[i]
            if b == 0x80000000:  # -0.0
                b = 0
            keys[i] = b ^ 0xFFFFFFFF if b >> 31 else b | 0x80000000
    else:
        keys = bits
    counts = np.zeros((3, 2048), np.int32)
    for i in range(n):
        k = keys[i]
        counts[0, k & 2047] += 1
        counts[1, (k >> 11) & 2047] += 1
        counts[2, k >> 22] += 1
    offsets = np.empty(2048, np.int32)
    first = keys[0] if n else 0
    src_k, src_o, passes = keys, ord_b, 0
    for p in range(3):
        shift = 11 * p
        if counts[p, (first >> shift) & 2047] == n:
            continue  # every key has the same digit here
        total = 0
        for d in range(2048):
            offsets[d] = total
            total += counts[p, d]
        # the first pass reads keys (possibly key_b) in index order and writes key_a/ord_a,
        # later ones alternate between the two pairs
        dst_k, dst_o = (key_a, ord_a) if passes % 2 == 0 else (key_b, ord_b)
        if passes == 0:
            for i in range(n):
                k = src_k[i]
                d = (k >> shift) & 2047
                j = offsets[d]
                offsets[d] = j + 1
                dst_k[j] = k
                dst_o[j] = i
        else:
            for i in range(n):
                k = src_k[i]
                d = (k >> shift) & 2047
                j = offsets[d]
                offsets[d] = j + 1
                dst_k[j] = k
                dst_o[j] = src_o[i]
        src_k, src_o, passes = dst_k, dst_o, passes + 1
    if passes == 0:  # all keys equal (or none): the input order is sorted
        for i in range(n):
            ord_a[i] = i
        src_o = ord_a
    if ranks.size:
        start = 0
        while start < n:
            k = src_k[start]
            end = start + 1
            while end < n and src_k[end] == k:
                end += 1
            if k == 0:
                rank = (end + extra_zeros + 1) * 0.5
            else:
                rank = (start + end + 1) * 0.5 + extra_zeros
            for j in range(start, end):
                ranks[src_o[j]] = rank
            start = end
    if sorted_out.size:
        for j in range(n):
            k = src_k[j]
            if floats:
                sorted_out[j] = k ^ 0x80000000 if k >> 31 else k ^ 0xFFFFFFFF
            else:
                sorted_out[j] = k
    if order_out.size:
        for j in range(n):
            order_out[j] = src_o[j]


_kernel = None
_kernel_lock = threading.Lock()


def _compiled_kernel():
    """The numba-compiled :func:`_radix_rank_kernel`, or None where numba is missing. numba
    is imported here, at the first ranking, not with the module."""
    global _kernel
    if _kernel is None:
        with _kernel_lock:
            if _kernel is None:
                try:
                    import numba
                except ImportError:
                    _kernel = False
                else:
                    _kernel = numba.njit(cache=True, nogil=True)(_radix_rank_kernel)
    return _kernel or None


def _scratch_radix(n: int) -> tuple[np.ndarray, ...]:
    """Two uint32 and two int32 arrays of n elements for the compiled sort: the calling
    thread's reused ones up to _SCRATCH_MAX elements, fresh ones beyond."""
    if n > _SCRATCH_MAX:
        return np.empty(n, np.uint32), np.empty(n, np.uint32), np.empty(n, np.int32), np.empty(n, np.int32)
    buffers = getattr(_scratch, "radix", None)
    if buffers is None or buffers[0].size < n:
        size = max(n, 65_536)
        buffers = _scratch.radix = tuple(
            np.empty(size, dt) for dt in (np.uint32, np.uint32, np.int32, np.int32)
        )
    return tuple(b[:n] for b in buffers)


_NONE_F64 = np.empty(0, dtype=np.float64)
_NONE_U32 = np.empty(0, dtype=np.uint32)
_NONE_INTP = np.empty(0, dtype=np.intp)


def _compiled_rank(
    bits: np.ndarray, floats: bool, extra_zeros: int = 0, *, ranks=True, sorted_=True, order=True
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """(ranks float64, sorted keys or float32 values, order intp) of 1-D uint32 ``bits``
    with the compiled kernel, each None unless asked for; all fresh arrays."""
    n = bits.size
    out_ranks = np.empty(n, np.float64) if ranks else _NONE_F64
    out_sorted = np.empty(n, np.uint32) if sorted_ else _NONE_U32
    out_order = np.empty(n, np.intp) if order else _NONE_INTP
    _compiled_kernel()(bits, floats, extra_zeros, out_ranks, out_sorted, out_order, *_scratch_radix(n))
    if floats and sorted_:
        out_sorted = out_sorted.view(np.float32)
    return (out_ranks if ranks else None, out_sorted if sorted_ else None, out_order if order else None)


def _float32_bits(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float32).reshape(-1).view(np.uint32)


# --- choosing a strategy -------------------------------------------------------------------


def _fastest_strategy() -> str:
    """The strategy that ranks a 224x224 map's worth of float32 values fastest here (ranks,
    order and sorted values, as :func:`rank_order_and_sort` returns them): best of 7 each,
    after one call that compiles (or loads) the kernel and fills the scratch buffers."""
    values = np.random.default_rng(0).random(224 * 224, dtype=np.float32)
    best = {}
    for name in STRATEGIES:
        if name == "compiled" and _compiled_kernel() is None:
            continue
        _rank(values, name)
        times = []
        for _ in range(7):
            started = time.perf_counter()
            _rank(values, name)
            times.append(time.perf_counter() - started)
        best[name] = min(times)
    return min(best, key=best.get)


_strategy_lock = threading.Lock()


def use_strategy(name: str | None) -> None:
    """Force a sorting strategy (one of ``STRATEGIES``), or None to time them again."""
    global _strategy
    if name is not None and name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    if name == "compiled" and _compiled_kernel() is None:
        raise ValueError("the compiled strategy needs numba")
    _strategy = name


def strategy() -> str:
    """The sorting strategy in use, timing them on first use."""
    global _strategy
    if _strategy is None:
        with _strategy_lock:  # one thread times, the others wait for its choice
            if _strategy is None:
                _strategy = _fastest_strategy()
    return _strategy


def sort_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, sorted keys) of 1-D uint32 keys: a stable ascending sort."""
    return _sort_keys(np.ascontiguousarray(keys, dtype=np.uint32), strategy())


def _sort_keys(keys: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "compiled":
        _, sorted_keys, order = _compiled_rank(keys, False, ranks=False)
        return order, sorted_keys
    return (_packed_sort if name == "packed" else _radix_sort)(keys)


def _ranks_in_sorted_order(sorted_keys: np.ndarray, before: int) -> np.ndarray:
    """Average ranks of ascending keys that follow ``before`` smaller values: each run of
    equal keys at positions [start, end) shares the rank before + (start + end + 1) / 2."""
    m = sorted_keys.size
    boundary = np.empty(m + 1, dtype=bool)
    boundary[0] = boundary[m] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=boundary[1:m])
    edges = np.flatnonzero(boundary)
    return np.repeat((edges[:-1] + edges[1:] + 1) * 0.5 + before, np.diff(edges))


def _rank(values: np.ndarray, name: str, *, order: bool = True, sorted_: bool = True):
    """(average ranks, 1-based, float64; the sorting order or None; the values sorted
    ascending, float32, or None) of the flattened values at float32 precision, with the
    named strategy."""
    if name == "compiled":
        ranks, sorted32, ordering = _compiled_rank(_float32_bits(values), True, order=order, sorted_=sorted_)
        return ranks, ordering, sorted32
    keys = float32_keys(values).ravel()
    n = keys.size
    ranks = np.empty(n, dtype=np.float64)
    lowest = keys.min()
    at_min = keys == lowest
    n_min = int(np.count_nonzero(at_min))
    if n_min > 1:
        minimum = np.flatnonzero(at_min)
        rest = np.flatnonzero(~at_min)
        rest_order, rest_sorted = _sort_keys(keys[rest], name)
        tail = rest[rest_order]
        ordering = np.concatenate((minimum, tail))
        sorted_keys = np.concatenate((np.full(n_min, lowest, dtype=np.uint32), rest_sorted))
        ranks[minimum] = (n_min + 1) / 2
    else:
        n_min = 0
        ordering, sorted_keys = _sort_keys(keys, name)
        tail, rest_sorted = ordering, sorted_keys
    ranks[tail] = _ranks_in_sorted_order(rest_sorted, n_min)
    return ranks, ordering, keys_to_float32(sorted_keys)


def rank_and_order(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(average ranks, 1-based, float64; the order that sorts the values ascending) of a
    1-D array at float32 precision; ``values[order]`` is sorted."""
    ranks, order, _ = _rank(values, strategy(), sorted_=False)
    return ranks, order


def rank_order_and_sort(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(average ranks, 1-based, float64; the sorting order; the values sorted ascending,
    float32) of a 1-D array at float32 precision."""
    return _rank(values, strategy())


def rank_and_sort(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(average ranks, 1-based, float64; the values sorted ascending, float32) of a 1-D array."""
    ranks, _, sorted32 = _rank(values, strategy(), order=False)
    return ranks, sorted32


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties share their mean rank) of the flattened values."""
    return _rank(values, strategy(), order=False, sorted_=False)[0]


def nonnegative_ranks(values: np.ndarray, extra_zeros: int = 0) -> tuple[np.ndarray, float]:
    """Average ranks of non-negative float32 ``values`` within the vector they form together
    with ``extra_zeros`` more zeros (pixels left out because they are zero in every map of an
    image): (ranks of ``values``, the rank every zero shares). Non-negative floats sort like
    their bit patterns, so no key transform is needed; the zeros sort first."""
    values = np.ascontiguousarray(values, dtype=np.float32).ravel() + np.float32(0.0)  # -0.0 to 0.0
    name = strategy()
    if name == "compiled":
        n_zero = int(np.count_nonzero(values == 0))
        ranks = _compiled_rank(values.view(np.uint32), False, extra_zeros, sorted_=False, order=False)[0]
        return ranks, (n_zero + extra_zeros + 1) / 2
    order, sorted_keys = _sort_keys(values.view(np.uint32), name)
    ranks_sorted = _ranks_in_sorted_order(sorted_keys, extra_zeros)
    n_zero = int(np.searchsorted(sorted_keys, 1))  # zeros among values: the first tie block
    zero_rank = (n_zero + extra_zeros + 1) / 2
    ranks_sorted[:n_zero] = zero_rank
    ranks = np.empty(values.size)
    ranks[order] = ranks_sorted
    return ranks, zero_rank

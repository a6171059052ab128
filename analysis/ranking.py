"""Fast average ranks of one flattened map, at float32 precision.

Ranking is most of the cost of a study analysis (Spearman needs the ranks of every model map
and of both halves of every split-half ceiling: about 120 000 maps for 1 000 images). Float32
values map to uint32 keys that sort in the same order, and three ways of sorting them beat a
comparison argsort of the floats:

- ``compiled``: a stable LSD radix sort (three passes of 11 bits over one uint64 word per
  value, key << 32 | index; a pass is skipped when every key has the same digit) in a numba
  kernel, which computes the average ranks and the sorted values in the same call. Linear
  time, no comparison sort at all, so it does not depend on how fast this CPU's numpy sorts:
  0.64-0.74 ms for a 224x224 map, keys, ranks and sorted values included, on the AMD EPYC
  (Zen 4) development machine. numba is imported and the kernels compiled (or loaded from
  numba's on-disk cache) at the first ranking, not at import: web processes import this
  module and only some of them rank. :func:`nonnegative_spearman` (the split-half ceiling)
  ranks rows with few distinct values through a hash table of the values instead.
- ``packed``: each key goes in the high half of a uint64 and its index in the low half, and
  the uint64s are sorted by value with ``np.sort``. Where numpy's vectorised (x86-simd-sort)
  quicksort is fast this takes about 0.3 ms for 50 000 keys, but on AMD Zen 4 it spends 86 %
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
# Plain Python functions, compiled by numba (nopython, nogil, cached on disk) at the first
# ranking; see _compiled_kernels.


_RAW, _FLOATS, _NONNEGATIVE = 0, 1, 2  # what the uint32 inputs of the kernels hold


def _key(bits, kind):
    """The sort key of one uint32 input: the bits themselves (``_RAW``); for float32 bit
    patterns -0.0 folded onto +0.0 and then, for any sign (``_FLOATS``), the key of
    :func:`float32_keys`, or for non-negative floats (``_NONNEGATIVE``), which sort like
    their bits, nothing more."""
    if kind == _RAW:
        return bits
    if bits == 0x80000000:
        bits = np.uint32(0)
    if kind == _NONNEGATIVE:
        return bits
    return bits ^ np.uint32(0xFFFFFFFF) if bits >> 31 else bits | np.uint32(0x80000000)


def _sort_words(bits, kind, words, spare):
    """Stable LSD radix sort of n uint32 ``bits`` by :func:`_key`: three passes of 11 bits,
    a pass skipped when every key has the same digit there. Each element travels as one
    uint64 word, key << 32 | index, so a pass moves one array, not two. ``words`` and
    ``spare``: n-element uint64 scratch; returns the one that holds the sorted words."""
    n = bits.size
    counts = np.zeros((3, 2048), np.int32)
    for i in range(n):
        k = _key_compiled(bits[i], kind)
        counts[0, k & 2047] += 1
        counts[1, (k >> 11) & 2047] += 1
        counts[2, k >> 22] += 1
    first = _key_compiled(bits[0], kind) if n else np.uint32(0)
    offsets = np.empty(2048, np.int32)
    source, passes = words, 0
    for p in range(3):
        if counts[p, (first >> (11 * p)) & 2047] == n:
            continue  # every key has the same digit here
        total = 0
        for d in range(2048):
            offsets[d] = total
            total += counts[p, d]
        target = words if passes % 2 == 0 else spare
        if passes == 0:  # the first pass builds the words from the input
            for i in range(n):
                k = _key_compiled(bits[i], kind)
                d = (k >> (11 * p)) & 2047
                j = offsets[d]
                offsets[d] = j + 1
                target[j] = (np.uint64(k) << np.uint64(32)) | np.uint64(i)
        else:
            shift = np.uint64(32 + 11 * p)
            for i in range(n):
                w = source[i]
                d = (w >> shift) & np.uint64(2047)
                j = offsets[d]
                offsets[d] = j + 1
                target[j] = w
        source, passes = target, passes + 1
    if passes == 0:  # all keys equal (or none): the input order is sorted
        for i in range(n):
            words[i] = (np.uint64(_key_compiled(bits[i], kind)) << np.uint64(32)) | np.uint64(i)
    return source


def _rank_kernel(bits, kind, extra_zeros, ranks, sorted_out, order_out, words, spare):
    """Sort ``bits`` (:func:`_sort_words`), then fill each output of size n (a size-0 array
    skips it): the average ranks (1-based, ties share their mean; a run of key 0 also ties
    with ``extra_zeros`` zeros not in the input, and every other rank is shifted by them, as
    :func:`nonnegative_ranks` needs), the sorted keys (float32 bits unless ``_RAW``, -0.0
    as +0.0) and the order."""
    n = bits.size
    sorted_words = _sort_words_compiled(bits, kind, words, spare)
    if ranks.size:
        start = 0
        while start < n:
            k = sorted_words[start] >> np.uint64(32)
            end = start + 1
            while end < n and sorted_words[end] >> np.uint64(32) == k:
                end += 1
            if k == 0:
                rank = (end + extra_zeros + 1) * 0.5
            else:
                rank = (start + end + 1) * 0.5 + extra_zeros
            for j in range(start, end):
                ranks[sorted_words[j] & np.uint64(0xFFFFFFFF)] = rank
            start = end
    if sorted_out.size:
        for j in range(n):
            k = np.uint32(sorted_words[j] >> np.uint64(32))
            if kind == _FLOATS:
                sorted_out[j] = k ^ np.uint32(0x80000000) if k >> 31 else k ^ np.uint32(0xFFFFFFFF)
            else:
                sorted_out[j] = k
    if order_out.size:
        for j in range(n):
            order_out[j] = sorted_words[j] & np.uint64(0xFFFFFFFF)


_TABLE_BITS = 14  # slots of the hash table that counts a row's distinct values
_EMPTY = 0xFFFFFFFF  # an unused slot: no non-negative float has these bits


def _table_slot(key, mask):
    """Fibonacci hashing of a uint32 key onto a table of mask + 1 slots (a power of 2)."""
    return (
        np.int64(
            ((np.uint64(key) * np.uint64(2654435769)) & np.uint64(0xFFFFFFFF)) >> np.uint64(32 - _TABLE_BITS)
        )
        & mask
    )


def _table_ranks(row, extra_zeros, keys, counts, ranks, slots, distinct_keys, distinct_slots, words, spare):
    """Average ranks of a non-negative float32 row (as uint32 bits; -0.0 as 0), extended by
    ``extra_zeros`` zeros, through a hash table of its distinct values: each value is counted
    in its slot (slots[i] holds row[i]'s), only the distinct values are sorted, and
    ranks[slot] gets the average rank of the slot's value. Returns (True, sum of squared ranks
    over the row, the rank of zero), or (False, 0, 0) as soon as the row has more distinct
    values than half the table: then sorting the row itself is cheaper. Painted maps are
    8-bit images, so a half mean of 20 000 pixels typically holds 2 000-4 000 values."""
    n = row.size
    mask = keys.size - 1
    limit = keys.size // 2
    keys[:] = _EMPTY
    distinct = 0
    for i in range(n):
        k = _key_compiled(row[i], _NONNEGATIVE)
        slot = _table_slot_compiled(k, mask)
        while True:
            held = keys[slot]
            if held == k:
                counts[slot] += 1
                break
            if held == _EMPTY:
                if distinct == limit:
                    return False, 0.0, 0.0
                keys[slot] = k
                counts[slot] = 1
                distinct += 1
                break
            slot = (slot + 1) & mask
        slots[i] = slot
    m = 0
    for slot in range(keys.size):
        if keys[slot] != _EMPTY:
            distinct_keys[m] = keys[slot]
            distinct_slots[m] = slot
            m += 1
    sorted_words = _sort_words_compiled(distinct_keys[:m], _RAW, words[:m], spare[:m])
    before = 0
    squares = 0.0
    zero_rank = (extra_zeros + 1) * 0.5  # when the row holds no zero
    for j in range(m):
        word = sorted_words[j]
        slot = distinct_slots[word & np.uint64(0xFFFFFFFF)]
        count = counts[slot]
        if word >> np.uint64(32) == 0:  # zero sorts first and ties with the extra zeros
            rank = (count + extra_zeros + 1) * 0.5
            zero_rank = rank
        else:
            rank = (2 * before + count + 1) * 0.5 + extra_zeros
        ranks[slot] = rank
        squares += count * rank * rank
        before += count
    return True, squares, zero_rank


def _nonnegative_spearman_kernel(first, second, extra_zeros, out, words, spare, first_ranks, table):
    """For each row r, Spearman's correlation of the non-negative float32 rows first[r] and
    second[r], each extended by ``extra_zeros`` zeros, into out[r]. Each row is ranked by
    :func:`_table_ranks` when it has few distinct values (then first[r]'s ranks are written
    to ``first_ranks`` and second[r]'s multiplied with them in index order), else sorted by
    :func:`_sort_words` (first[r]'s ranks scattered, second[r]'s runs walked); once a row
    has too many distinct values, the rest are sorted too. The sums of squares come from
    the tie runs. Ranks are multiples of 1/2, so every sum here is exact in float64 (up to
    about 190 000 values per row) and equals the dot products of
    :func:`_nonnegative_spearman_numpy`, whatever the order of summation. ``table``: the
    hash table's keys, counts, ranks, per-value slots and distinct keys and slots."""
    keys, counts, table_ranks, slots, distinct_keys, distinct_slots = table
    rows, n = first.shape
    total = n + extra_zeros
    offset = total * ((total + 1) / 2) ** 2  # n * mean rank squared
    use_table = True
    for r in range(rows):
        sums = np.zeros(2)  # sum of squared ranks of first[r], second[r]
        zero_rank = np.zeros(2)
        cross = 0.0
        for side in range(2):
            row = (first[r] if side == 0 else second[r]).view(np.uint32)
            if use_table:
                use_table, sums[side], zero_rank[side] = _table_ranks_compiled(
                    row,
                    extra_zeros,
                    keys,
                    counts,
                    table_ranks,
                    slots,
                    distinct_keys,
                    distinct_slots,
                    words,
                    spare,
                )
            if use_table:
                if side == 0:
                    for i in range(n):
                        first_ranks[i] = table_ranks[slots[i]]
                else:
                    for i in range(n):
                        cross += table_ranks[slots[i]] * first_ranks[i]
                continue
            zero_rank[side] = (extra_zeros + 1) * 0.5  # when the row holds no zero
            sorted_words = _sort_words_compiled(row, _NONNEGATIVE, words, spare)
            start = 0
            while start < n:
                k = sorted_words[start] >> np.uint64(32)
                end = start + 1
                while end < n and sorted_words[end] >> np.uint64(32) == k:
                    end += 1
                if k == 0:
                    rank = (end + extra_zeros + 1) * 0.5
                    zero_rank[side] = rank
                else:
                    rank = (start + end + 1) * 0.5 + extra_zeros
                sums[side] += (end - start) * rank * rank
                if side == 0:
                    for j in range(start, end):
                        first_ranks[sorted_words[j] & np.uint64(0xFFFFFFFF)] = rank
                else:
                    for j in range(start, end):
                        cross += rank * first_ranks[sorted_words[j] & np.uint64(0xFFFFFFFF)]
                start = end
        covariance = cross + extra_zeros * zero_rank[0] * zero_rank[1] - offset
        var_first = sums[0] + extra_zeros * zero_rank[0] * zero_rank[0] - offset
        var_second = sums[1] + extra_zeros * zero_rank[1] * zero_rank[1] - offset
        if var_first > 0 and var_second > 0:
            out[r] = covariance / np.sqrt(var_first * var_second)
        else:
            out[r] = np.nan


_sort_words_compiled = _key_compiled = _table_slot_compiled = _table_ranks_compiled = None
_kernels = None
_kernel_lock = threading.Lock()


def _compiled_kernels():
    """(rank kernel, Spearman kernel), compiled, or None where numba is missing. numba is
    imported here, at the first ranking, not with the module: web processes import this
    module, and importing numba costs them about 0.4 s and memory."""
    global _kernels, _sort_words_compiled, _key_compiled, _table_slot_compiled, _table_ranks_compiled
    if _kernels is None:
        with _kernel_lock:
            if _kernels is None:
                try:
                    import numba
                except ImportError:
                    _kernels = False
                else:
                    jit = numba.njit(cache=True, nogil=True)
                    # the kernels call these through the module's globals
                    inline = numba.njit(cache=True, nogil=True, inline="always")
                    _key_compiled = inline(_key)
                    _table_slot_compiled = inline(_table_slot)
                    _sort_words_compiled = jit(_sort_words)
                    _table_ranks_compiled = jit(_table_ranks)
                    _kernels = (jit(_rank_kernel), jit(_nonnegative_spearman_kernel))
    return _kernels or None


def _compiled_kernel():
    kernels = _compiled_kernels()
    return kernels[0] if kernels else None


def _scratch_words2(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two uint64 arrays of n elements for the compiled sort: the calling thread's reused
    ones up to _SCRATCH_MAX elements, fresh ones beyond."""
    if n > _SCRATCH_MAX:
        return np.empty(n, np.uint64), np.empty(n, np.uint64)
    buffers = getattr(_scratch, "radix", None)
    if buffers is None or buffers[0].size < n:
        size = max(n, 65_536)
        buffers = _scratch.radix = (np.empty(size, np.uint64), np.empty(size, np.uint64))
    return buffers[0][:n], buffers[1][:n]


_NONE_F64 = np.empty(0, dtype=np.float64)
_NONE_U32 = np.empty(0, dtype=np.uint32)
_NONE_INTP = np.empty(0, dtype=np.intp)


def _compiled_rank(
    bits: np.ndarray, kind: int, extra_zeros: int = 0, *, ranks=True, sorted_=True, order=True, out=None
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """(ranks float64, sorted keys or float32 values, order intp) of 1-D uint32 ``bits``
    (see :func:`_key`) with the compiled kernel, each None unless asked for; all fresh but
    the ranks when ``out`` (a contiguous float64 array of n) is given for them."""
    n = bits.size
    out_ranks = (np.empty(n, np.float64) if out is None else out) if ranks else _NONE_F64
    out_sorted = np.empty(n, np.uint32) if sorted_ else _NONE_U32
    out_order = np.empty(n, np.intp) if order else _NONE_INTP
    _compiled_kernel()(bits, kind, extra_zeros, out_ranks, out_sorted, out_order, *_scratch_words2(n))
    if kind != _RAW and sorted_:
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
        _, sorted_keys, order = _compiled_rank(keys, _RAW, ranks=False)
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


def _rank(values: np.ndarray, name: str, *, order: bool = True, sorted_: bool = True, out=None):
    """(average ranks, 1-based, float64, in ``out`` if given; the sorting order or None;
    the values sorted ascending, float32, or None) of the flattened values at float32
    precision, with the named strategy."""
    if out is not None and (out.dtype != np.float64 or out.shape != (np.size(values),)):
        raise ValueError(f"out must be a float64 array of {np.size(values)} values")
    if name == "compiled":
        bits = _float32_bits(values)
        if out is not None and not out.flags.c_contiguous:
            ranks, sorted32, ordering = _rank(values, name, order=order, sorted_=sorted_)
            out[...] = ranks
            return out, ordering, sorted32
        ranks, sorted32, ordering = _compiled_rank(bits, _FLOATS, order=order, sorted_=sorted_, out=out)
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
    if out is not None:
        out[...] = ranks
        ranks = out
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


def rank_and_sort(values: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(average ranks, 1-based, float64; the values sorted ascending, float32) of a 1-D array.
    ``out``: a float64 array of the values' size to write the ranks into (and return), e.g.
    a row of a preallocated table, which saves a copy per map."""
    ranks, _, sorted32 = _rank(values, strategy(), order=False, out=out)
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
        bits = values.view(np.uint32)
        ranks = _compiled_rank(bits, _NONNEGATIVE, extra_zeros, sorted_=False, order=False)[0]
        return ranks, (n_zero + extra_zeros + 1) / 2
    order, sorted_keys = _sort_keys(values.view(np.uint32), name)
    ranks_sorted = _ranks_in_sorted_order(sorted_keys, extra_zeros)
    n_zero = int(np.searchsorted(sorted_keys, 1))  # zeros among values: the first tie block
    zero_rank = (n_zero + extra_zeros + 1) / 2
    ranks_sorted[:n_zero] = zero_rank
    ranks = np.empty(values.size)
    ranks[order] = ranks_sorted
    return ranks, zero_rank


def nonnegative_spearman(first: np.ndarray, second: np.ndarray, extra_zeros: int = 0) -> np.ndarray:
    """Spearman's correlation of each row of ``first`` with the same row of ``second``
    (two (rows, n) arrays of non-negative float32 values, e.g. the half means of every split
    of a split-half ceiling), each row extended by ``extra_zeros`` zeros (pixels left out
    because they are zero everywhere): (rows,) float64, NaN where a row is constant. The
    compiled strategy does it in one call, without materialising the second row's ranks."""
    first = np.ascontiguousarray(first, dtype=np.float32)
    second = np.ascontiguousarray(second, dtype=np.float32)
    if first.ndim != 2 or first.shape != second.shape:
        raise ValueError(f"need two (rows, n) arrays of one shape, got {first.shape} and {second.shape}")
    if strategy() != "compiled":
        return _nonnegative_spearman_numpy(first, second, extra_zeros)
    out = np.empty(len(first))
    n = first.shape[1]
    words, spare = _scratch_words2(max(n, 1 << _TABLE_BITS))
    _compiled_kernels()[1](first, second, extra_zeros, out, words, spare, np.empty(n), _scratch_table(n))
    return out


def _scratch_table(n: int) -> tuple[np.ndarray, ...]:
    """The hash table of :func:`_table_ranks` and n slots, the calling thread's reused ones."""
    size = 1 << _TABLE_BITS
    table = getattr(_scratch, "table", None)
    if table is None:
        table = _scratch.table = (
            np.empty(size, np.uint32),
            np.empty(size, np.int32),
            np.empty(size, np.float64),
            np.empty(65_536, np.uint16),
            np.empty(size, np.uint32),
            np.empty(size, np.int32),
        )
    if table[3].size < n:
        table = _scratch.table = (*table[:3], np.empty(n, np.uint16), *table[4:])
    return (*table[:3], table[3][:n], *table[4:])


def _nonnegative_spearman_numpy(first: np.ndarray, second: np.ndarray, extra_zeros: int) -> np.ndarray:
    """:func:`nonnegative_spearman` from :func:`nonnegative_ranks` and dot products. Ranks are
    multiples of 1/2, so up to about 190 000 values per row the sums of products below are
    exact in float64 and need no centring (beyond that they round like any float64 sum)."""
    z = extra_zeros
    total = first.shape[1] + z
    offset = total * ((total + 1) / 2) ** 2  # n * mean rank squared
    values = []
    for a, b in zip(first, second):
        ra, zero_a = nonnegative_ranks(a, z)
        rb, zero_b = nonnegative_ranks(b, z)
        cross = ra @ rb + z * zero_a * zero_b - offset
        var_a = ra @ ra + z * zero_a * zero_a - offset
        var_b = rb @ rb + z * zero_b * zero_b - offset
        values.append(cross / np.sqrt(var_a * var_b) if var_a > 0 and var_b > 0 else float("nan"))
    return np.array(values, dtype=np.float64)

"""The compiled half of :mod:`labkit.flows.fastdecode`: walks over IPFIX bytes, big-endian
gathers and a byte-string deduplicator, as numba kernels.

Each kernel is plain Python that numba can compile; without numba (or with
``LABKIT_NO_NUMBA=1``) the walks run as that same Python, and gathers and deduplication use
numpy and a dict instead (:class:`Kernels` hides which). The tests run both.
"""

from __future__ import annotations

import os
import types
from typing import Any, Callable

import numpy as np

from labkit.flows.ies import VARLEN

# -- numba, optional -------------------------------------------------------------------------
# LABKIT_NO_NUMBA=1 forces the pure-Python walk (what a machine without numba runs).


def _load_numba() -> Any:
    if os.environ.get("LABKIT_NO_NUMBA"):
        return None
    try:
        import numba
    except ImportError:
        return None
    return numba


_numba = _load_numba()
HAVE_NUMBA = _numba is not None

# --------------------------------------------------------------------------------------------
# Kernels. Plain Python that numba can compile: the same source is the fallback, and the tests
# run both. ``_u`` reads an octet or offset as an integer: ``int`` in Python; compiled, an int64
# (numba's int() of a uint8 is unsigned, and int64 + uint64 is float64 in numba).

_u = int


def walk_messages(buf, unit_starts, unit_ends, m_out, s_out):  # pragma: no cover - see tests
    """Messages and sets of every unit (§3.1, §3.3.2). ``m_out`` rows: start, length, domain,
    export time, sequence number, unit, status; ``s_out`` rows: message row, set id, first
    octet after the set header, end. Returns (messages, sets)."""
    nm = 0
    ns = 0
    for u in range(len(unit_starts)):
        off = _u(unit_starts[u])
        end = _u(unit_ends[u])
        while off < end:
            m_out[nm, 0] = off
            m_out[nm, 5] = u
            if end - off < 16:
                m_out[nm, 6] = 1
                nm += 1
                break
            version = (_u(buf[off]) << 8) | _u(buf[off + 1])
            length = (_u(buf[off + 2]) << 8) | _u(buf[off + 3])
            m_out[nm, 1] = length
            if version != 10 or length < 16 or off + length > end:
                m_out[nm, 6] = 1
                nm += 1
                break
            m_out[nm, 2] = ((_u(buf[off + 12]) << 24) | (_u(buf[off + 13]) << 16)
                            | (_u(buf[off + 14]) << 8) | _u(buf[off + 15]))
            m_out[nm, 3] = ((_u(buf[off + 4]) << 24) | (_u(buf[off + 5]) << 16)
                            | (_u(buf[off + 6]) << 8) | _u(buf[off + 7]))
            m_out[nm, 4] = ((_u(buf[off + 8]) << 24) | (_u(buf[off + 9]) << 16)
                            | (_u(buf[off + 10]) << 8) | _u(buf[off + 11]))
            m_out[nm, 6] = 0
            p = off + 16
            mend = off + length
            bad = False
            while p < mend:
                if mend - p < 4:
                    bad = True
                    break
                sid = (_u(buf[p]) << 8) | _u(buf[p + 1])
                slen = (_u(buf[p + 2]) << 8) | _u(buf[p + 3])
                if slen < 4 or p + slen > mend:
                    bad = True
                    break
                s_out[ns, 0] = nm
                s_out[ns, 1] = sid
                s_out[ns, 2] = p + 4
                s_out[ns, 3] = p + slen
                ns += 1
                p += slen
            if bad:
                m_out[nm, 6] = 2
                nm += 1
                break
            nm += 1
            off += length
    return nm, ns


def walk_records(buf, starts, ends, lengths, minimum, fill, rec_start, var_pos, counts, status):  # pragma: no cover
    """Records of the data sets ``starts[i]:ends[i]`` of one template whose field lengths are
    ``lengths`` (65535: variable length). Counts per set (and status 1 when a record overruns
    the set and what is left is not zero padding, §3.3.1); with ``fill``, also each record's
    first octet and, per variable-length field, its value's first octet and length
    (``var_pos[2k, r]``, ``var_pos[2k + 1, r]``: one row per value, so that reading one field
    of many records is contiguous). Returns the number of records. Every pass of the record
    loop advances ``off`` by at least one octet, or ends the set. A record's positions are
    written only once it is complete: one that overruns its set is not a record, and its
    column ``r`` may lie past the end of ``var_pos`` (sized by a counting walk)."""
    nf = len(lengths)
    nv = 0
    for f in range(nf):
        if _u(lengths[f]) == 65535:
            nv += 1
    scratch = np.empty(2 * nv + 1, np.int64)
    r = 0
    for i in range(len(starts)):
        off = _u(starts[i])
        end = _u(ends[i])
        c = 0
        st = 0
        while end - off >= minimum:
            p = off
            ok = True
            k = 0
            for f in range(nf):
                n = _u(lengths[f])
                if n == 65535:
                    if p >= end:
                        ok = False
                        break
                    n = _u(buf[p])
                    p += 1
                    if n == 255:
                        if p + 2 > end:
                            ok = False
                            break
                        n = (_u(buf[p]) << 8) | _u(buf[p + 1])
                        p += 2
                    if p + n > end:
                        ok = False
                        break
                    scratch[2 * k] = p
                    scratch[2 * k + 1] = n
                    k += 1
                elif p + n > end:
                    ok = False
                    break
                p += n
            if not ok:
                for q in range(off, end):
                    if buf[q] != 0:
                        st = 1
                        break
                break
            if p == off:  # a record of 0 octets never ends the set (Template refuses them)
                st = 1
                break
            if fill:
                rec_start[r] = off
                for j in range(2 * nv):
                    var_pos[j, r] = scratch[j]
            r += 1
            c += 1
            off = p
        counts[i] = c
        status[i] = st
    return r


def gather_uint(buf, pos, width, out):  # pragma: no cover
    """``out[i]``: the ``width``-octet big-endian unsigned integer at ``pos[i]`` (one 8-octet
    load and a byte swap where 8 octets are in bounds)."""
    shift = np.uint64(64 - 8 * width)
    limit = len(buf) - 8
    for i in range(len(pos)):
        p = pos[i]
        if p <= limit:
            out[i] = load_be(buf, p) >> shift
        else:
            v = np.uint64(0)
            for j in range(width):
                v = (v << np.uint64(8)) | np.uint64(buf[p + j])
            out[i] = v


def load_be(buf, q):  # pragma: no cover - compiled, an unaligned load and a byte swap
    """The 8 octets at ``q`` as a big-endian integer."""
    return np.uint64(int.from_bytes(bytes(buf[q:q + 8]), "big"))


def load_word(buf, q):  # pragma: no cover - compiled, an unaligned 8-octet load
    """The 8 octets at ``q`` as a little-endian integer."""
    return np.uint64(int.from_bytes(bytes(buf[q:q + 8]), "little"))


def word_at(buf, q, r):  # pragma: no cover
    """The ``r`` (< 8) octets at ``q`` as a little-endian integer: one load when 8 octets are
    in bounds, else octet by octet."""
    if q + 8 <= len(buf):
        return load_word(buf, q) & ((np.uint64(1) << np.uint64(8 * r)) - np.uint64(1))
    w = np.uint64(0)
    for b in range(r):
        w |= np.uint64(buf[q + b]) << np.uint64(8 * b)
    return w


def dedupe_bytes(buf, pos, length, codes, table, hashes, arena, first_pos, first_len, state):  # pragma: no cover
    """Codes of the byte strings ``buf[pos[i]:pos[i] + length[i]]``: equal strings get equal
    codes, numbered by first appearance. Open addressing on FNV-1a over 8-octet words, kept
    across calls: ``table`` (a power of two long, -1 = free), and per distinct string its hash
    and its copy in ``arena`` (``first_pos``, ``first_len``; compared there, in cache, rather
    than at its first place in a buffer of hundreds of MB); ``state`` holds the distinct
    count and the arena octets used. Returns how many strings it coded: it stops early when
    the table would pass half full or the arena is full, for the caller to grow them (arrays
    are never replaced in here: that would cost numba a reference count per access)."""
    cap = len(table)
    k = state[0]
    used = state[1]
    for i in range(len(pos)):
        p = pos[i]
        m = length[i]
        h = np.uint64(14695981039346656037) ^ np.uint64(m)
        j = 0
        while j + 8 <= m:
            h = (h ^ load_word(buf, p + j)) * np.uint64(1099511628211)
            j += 8
        if j < m:
            h = (h ^ word_at(buf, p + j, m - j)) * np.uint64(1099511628211)
        h ^= h >> np.uint64(33)  # the low bits pick the slot: mix every bit into them
        h *= np.uint64(0xFF51AFD7ED558CCD)  # (MurmurHash3's 64-bit finalizer)
        h ^= h >> np.uint64(33)
        slot = np.int64(h & np.uint64(cap - 1))
        while True:
            u = table[slot]
            if u == -1:
                if 2 * (k + 1) > cap or used + m + 8 > len(arena):
                    state[0] = k
                    state[1] = used
                    return i
                for j in range(m):
                    arena[used + j] = buf[p + j]
                table[slot] = k
                first_pos[k] = used
                first_len[k] = m
                hashes[k] = h
                codes[i] = k
                used += m
                k += 1
                break
            if hashes[u] == h and first_len[u] == m:
                q = first_pos[u]
                same = True
                j = 0
                while j + 8 <= m:
                    if load_word(arena, q + j) != load_word(buf, p + j):
                        same = False
                        break
                    j += 8
                if same and j < m and word_at(arena, q + j, m - j) != word_at(buf, p + j, m - j):
                    same = False
                if same:
                    codes[i] = u
                    break
            slot = (slot + 1) & (cap - 1)
    state[0] = k
    state[1] = used
    return len(pos)


def rehash(table, hashes, count):  # pragma: no cover
    """Put the first ``count`` hashes into an empty ``table`` (open addressing)."""
    cap = len(table)
    for v in range(count):
        s = np.int64(hashes[v] & np.uint64(cap - 1))
        while table[s] != -1:
            s = (s + 1) & (cap - 1)
        table[s] = v


def _unaligned_load(swap: bool = False) -> Any:
    """A numba intrinsic: the 8 octets at ``q`` of a uint8 array, one unaligned load (the
    callers keep ``q + 8`` within the array), little-endian, or big-endian with ``swap``."""
    from llvmlite import ir
    from numba.core import types as nb_types
    from numba.core.extending import intrinsic

    @intrinsic
    def load_word(typingctx: Any, arr: Any, q: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            array = context.make_array(signature.args[0])(context, builder, args[0])
            pointer = builder.bitcast(builder.gep(array.data, [args[1]]), ir.IntType(64).as_pointer())
            value = builder.load(pointer, align=1)
            return builder.bswap(value) if swap else value

        return nb_types.uint64(arr, nb_types.int64), codegen

    return load_word


def _with_globals(fn: Callable[..., Any], **names: Any) -> Callable[..., Any]:
    """``fn`` seeing ``names`` as globals (numba reads globals when it compiles)."""
    clone = types.FunctionType(fn.__code__, {**fn.__globals__, **names}, fn.__name__,
                               fn.__defaults__, fn.__closure__)
    clone.__qualname__ = fn.__qualname__
    clone.__module__ = fn.__module__
    return clone


class Kernels:
    """The kernels, compiled (``numba``) or as Python; :attr:`compile_s` is the first-call cost."""

    def __init__(self, compiled: bool) -> None:
        self.compiled = compiled
        if compiled:
            jit = _numba.njit(cache=True, nogil=True)
            as_int64 = jit(lambda x: np.int64(x))
            self.walk_messages = jit(_with_globals(walk_messages, _u=as_int64))
            self.walk_records = jit(_with_globals(walk_records, _u=as_int64))
            self.gather_uint = jit(_with_globals(gather_uint, load_be=_unaligned_load(swap=True)))
            load = _unaligned_load()
            self.dedupe_bytes = jit(_with_globals(
                dedupe_bytes, load_word=load, word_at=jit(_with_globals(word_at, load_word=load))))
            self.rehash = jit(rehash)
        self.compile_s: float | None = None

    def messages(self, buf: np.ndarray, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total = int(units[:, 1].sum() - units[:, 0].sum()) if len(units) else 0
        m_out = np.zeros((total // 16 + len(units) + 1, 7), np.int64)
        s_out = np.zeros((total // 4 + 1, 4), np.int64)
        if self.compiled:
            nm, ns = self.walk_messages(buf, units[:, 0].copy(), units[:, 1].copy(), m_out, s_out)
        else:
            nm, ns = walk_messages(_octets(buf), units[:, 0].tolist(), units[:, 1].tolist(),
                                   _Rows(m_out), _Rows(s_out))
        return m_out[:nm], s_out[:ns]

    def records(self, buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, lengths: np.ndarray,
                minimum: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        nv = int((lengths == VARLEN).sum())
        counts = np.zeros(len(starts), np.int64)
        status = np.zeros(len(starts), np.int64)
        empty = np.zeros(0, np.int64)
        if self.compiled:
            n = self.walk_records(buf, starts, ends, lengths, minimum, False, empty,
                                  np.zeros((2 * nv, 0), np.int64), counts, status)
            rec_start = np.empty(n, np.int64)
            var_pos = np.empty((2 * nv, n), np.int64)
            self.walk_records(buf, starts, ends, lengths, minimum, True, rec_start, var_pos,
                              counts, status)
        else:
            rows: list[int] = []
            var: list[list[int]] = []
            walk_records(_octets(buf), starts.tolist(), ends.tolist(), lengths.tolist(), minimum,
                         True, _Appender(rows), _VarRows(var, nv), counts, status)
            rec_start = np.array(rows, np.int64)
            var_pos = np.array(var, np.int64).reshape(len(rows), 2 * nv).T.copy()
        return rec_start, var_pos, counts, status

    def set_status(self, buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, lengths: np.ndarray,
                   minimum: int) -> np.ndarray:
        """Per data set ``starts[i]:ends[i]`` of one template: 1 if a record overruns it and
        what is left is not zero padding (the set is malformed), else 0. A counting walk only."""
        nv = int((lengths == VARLEN).sum())
        counts = np.zeros(len(starts), np.int64)
        status = np.zeros(len(starts), np.int64)
        empty = np.zeros(0, np.int64)
        if self.compiled:
            self.walk_records(buf, starts, ends, lengths, minimum, False, empty,
                              np.zeros((2 * nv, 0), np.int64), counts, status)
        else:
            walk_records(_octets(buf), starts.tolist(), ends.tolist(), lengths.tolist(), minimum,
                         False, None, None, counts, status)
        return status

    def uint(self, buf: np.ndarray, pos: np.ndarray, width: int) -> np.ndarray:
        if self.compiled:
            out = np.empty(len(pos), np.uint64)
            self.gather_uint(buf, pos, width, out)
            return out
        out = np.zeros(len(pos), np.uint64)  # numpy gathers, one octet lane at a time
        for j in range(width):
            out = (out << np.uint64(8)) | buf[pos + j].astype(np.uint64)
        return out

    def dedupe(self, n: int) -> _Dedupe:
        return _Dedupe(self, n)




class _Dedupe:
    """Distinct byte strings of one column, fed chunk by chunk (the compiled kernel's state,
    or a dict in Python)."""

    def __init__(self, k: Kernels, n: int) -> None:
        self.k = k
        self.codes = np.empty(n, np.int64)
        if k.compiled:
            self.table = np.full(1024, -1, np.int64)
            self.hashes = np.empty(n, np.uint64)
            self.first_pos = np.empty(n, np.int64)
            self.first_len = np.empty(n, np.int64)
            self.arena = np.empty(4096, np.uint8)
            self.state = np.zeros(2, np.int64)  # distinct strings, arena octets used
        else:
            self.seen: dict[bytes, int] = {}

    def feed(self, buf: np.ndarray, raw: bytes, start: int, pos: np.ndarray, length: np.ndarray) -> None:
        out = self.codes[start:start + len(pos)]
        if self.k.compiled:
            done = 0
            while done < len(pos):
                done += self.k.dedupe_bytes(buf, pos[done:], length[done:], out[done:], self.table,
                                            self.hashes, self.arena, self.first_pos, self.first_len,
                                            self.state)
                if done < len(pos):  # grow what is full, then go on
                    count, used = int(self.state[0]), int(self.state[1])
                    if 2 * (count + 1) > len(self.table):
                        self.table = np.full(2 * len(self.table), -1, np.int64)
                        self.k.rehash(self.table, self.hashes, count)
                    if used + int(length[done]) + 8 > len(self.arena):
                        bigger = np.empty(2 * len(self.arena) + int(length[done]) + 8, np.uint8)
                        bigger[:used] = self.arena[:used]
                        self.arena = bigger
            return
        seen = self.seen
        out[:] = [seen.setdefault(raw[p:p + m], len(seen)) for p, m in zip(pos.tolist(), length.tolist())]

    def distinct(self, raw: bytes) -> list[bytes]:
        if self.k.compiled:
            count = int(self.state[0])
            arena = self.arena[:int(self.state[1])].tobytes()
            return [arena[p:p + m] for p, m in zip(self.first_pos[:count].tolist(),
                                                   self.first_len[:count].tolist())]
        return list(self.seen)


def _octets(buf: np.ndarray) -> bytes:
    """The octets of ``buf`` for the Python walks: the bytes it was made from
    (``np.frombuffer``), not a copy per call (a batch may walk many templates' sets)."""
    base = buf.base
    if isinstance(base, bytes) and len(base) == len(buf):
        return base
    return buf.tobytes()


class _Rows:
    """A numpy 2-D array seen through Python ints (the Python kernels index it per cell)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __setitem__(self, key: tuple[int, int], value: int) -> None:
        self.array[key] = value


class _Appender:
    def __init__(self, rows: list[int]) -> None:
        self.rows = rows

    def __setitem__(self, index: int, value: int) -> None:
        self.rows.append(value)


class _VarRows:
    def __init__(self, rows: list[list[int]], nv: int) -> None:
        self.rows, self.nv = rows, nv

    def __setitem__(self, key: tuple[int, int], value: int) -> None:
        c, r = key
        while len(self.rows) <= r:
            self.rows.append([0] * (2 * self.nv))
        self.rows[r][c] = value


_KERNELS: dict[bool, Kernels] = {}


def kernels(compiled: bool | None = None) -> Kernels:
    """The compiled kernels (numba installed, ``compiled`` not False), else the Python ones.
    The first call of each compiled kernel compiles it (or loads numba's on-disk cache)."""
    use = HAVE_NUMBA if compiled is None else (compiled and HAVE_NUMBA)
    if use not in _KERNELS:
        _KERNELS[use] = Kernels(use)
    return _KERNELS[use]


__all__ = ["HAVE_NUMBA", "Kernels", "kernels"]

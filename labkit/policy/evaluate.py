"""Vectorized evaluation of a PolicySet: the reference semantics every backend is compared with.

For each direction, a new connection is matched as Antrea's datapath matches it
(docs/antrea-network-policy.md; pkg/agent/openflow): at the source pod the egress stages, at the
destination pod the ingress stages, and both must admit it:

1. Antrea-native rules of the non-baseline tiers, first match wins: Allow admits (skipping K8s
   NetworkPolicy and baseline), Drop/Reject deny, Pass skips the remaining Antrea tiers;
2. K8s NetworkPolicy: a pod selected for that direction is isolated and only what some rule
   allows passes, everything else is dropped ("default deny");
3. for pods not isolated by K8s NetworkPolicy: baseline-tier rules, first match wins;
4. otherwise allowed.

A pod talking to its own IP never leaves its network namespace, so it is always allowed.

How it stays fast and small at 10,000 pods x 2,000 policies:

* **Equivalence classes, per direction.** The egress decision depends only on which egress rules
  select the source (appliedTo) and the destination (peer), the ingress decision only on the
  ingress rules; so sources and destinations are grouped, separately for each direction, into
  classes of pods every rule of that direction treats alike (plus which K8s NetworkPolicies
  isolate them and, for destinations, how their named ports resolve). A 64-bit fingerprint per
  pod proposes the classes and an exact check confirms them (:func:`_partition`). An
  :class:`Engine` does this once per PolicySet and pod list (cached while the PolicySet lives:
  :func:`engine_for`); each probe then merges the classes further over the rules its port
  matches, per direction and per stage, and decisions are cached by the set of rules a probe
  activates (ports no rule names, UDP and SCTP when only port-less rules apply, decide alike).
* **First match by painting.** :func:`first_match` finds each class pair's first matching rule
  either by painting every rule's rectangle (its sources x its destinations) from the last rule
  to the first, or rule words of 64 at a time (``A[s] & B[d]``, lowest set bit), whichever
  touches fewer cells; rules select few pods, so painting usually wins.
* **Compact results.** An :class:`Evaluation` keeps each direction's decisions per class pair
  (verdict, deciding rule, Pass rule) plus each pod's class. Only the verdicts are expanded to a
  pod x pod ``uint8`` matrix (100 MB at 10,000 pods), on first use and column-major; per-pod
  rule ids are computed on demand (:meth:`Evaluation.cell` for one cell, the ``egress_rule`` ...
  properties for whole arrays).
"""

from __future__ import annotations

import operator
import weakref
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from ..model.objects import Pod
from .compiler import DIRECTIONS, STAGES, CompiledRule, PolicySet
from .probe import AMBIGUOUS, Probe, service_match, source_port_match

ALLOW, DROP, REJECT, PASS = 0, 1, 2, 3
VERDICT_NAMES = ("allow", "drop", "reject")
ACTION_CODES = {"Allow": ALLOW, "Drop": DROP, "Reject": REJECT, "Pass": PASS}

# Special "rule ids" for decisions not made by a compiled rule.
NO_RULE = -1  # nothing matched: default allow
K8S_ISOLATION = -2  # dropped by K8s NetworkPolicy isolation (no K8s rule allowed it)
SELF = -3  # a pod talking to itself

_WORD_BITS = 64
_NONE = 255  # action code of "no rule matched" in lookups
_SMALL = 4096  # class pairs below which merging classes further costs more than it saves
_SIDES_CACHED_BYTES = 128 * 2**20  # per engine: the decisions of the last probes, by the rules they activate


# ---------------------------------------------------------------------------- results


@dataclass
class Side:
    """The decisions of one direction: per class pair, plus the class of every source/destination."""

    direction: str
    src_class: np.ndarray  # int64 per source pod
    dst_class: np.ndarray  # int64 per destination pod
    code: np.ndarray  # uint8 (source classes x destination classes): ALLOW / DROP / REJECT
    rule: np.ndarray  # int32: deciding rule id, or NO_RULE / K8S_ISOLATION
    passed: np.ndarray  # int32: the Pass rule that handed the decision on, or NO_RULE

    @property
    def nbytes(self) -> int:
        """Memory held (a broadcast constant, such as ``passed`` without a Pass rule, holds none)."""
        return sum(a.nbytes for a in (self.src_class, self.dst_class, self.code, self.rule, self.passed)
                   if 0 not in a.strides)

    def expand(self, array: np.ndarray) -> np.ndarray:
        """A class-pair array as a source x destination array."""
        return array.take(self.dst_class, axis=1).take(self.src_class, axis=0)  # whole rows last: 2x faster


class Evaluation:
    """Result of evaluating one probe over sources x destinations (pod keys).

    ``verdict`` is the pod x pod ``uint8`` matrix (ALLOW / DROP / REJECT). The deciding rules are
    kept per class pair (``egress`` and ``ingress`` :class:`Side`); ``cell(i, j)`` reads one cell,
    and the ``egress_rule``, ``ingress_rule``, ``egress_pass``, ``ingress_pass``, ``egress_code``
    and ``ingress_code`` properties expand whole pod x pod arrays when a caller needs them.
    ``src_class``/``dst_class``/``class_verdict`` are the verdicts on joint (egress, ingress)
    classes: ``verdict[i, j] == class_verdict[src_class[i], dst_class[j]]`` except a pod towards
    itself (``self_pairs``), which is always allowed.
    """

    def __init__(self, sources: Sequence[str], destinations: Sequence[str], egress: Side, ingress: Side,
                 ambiguous_rules: Iterable[int] = ()) -> None:
        self.sources = list(sources)
        self.destinations = list(destinations)
        self.egress = egress
        self.ingress = ingress
        self.ambiguous_rules = sorted(set(ambiguous_rules))
        self.src_class, src_rep = _joint(egress.src_class, ingress.src_class)
        self.dst_class, dst_rep = _joint(egress.dst_class, ingress.dst_class)
        e_code = egress.code.take(egress.dst_class[dst_rep], axis=1).take(egress.src_class[src_rep], axis=0)
        i_code = ingress.code.take(ingress.dst_class[dst_rep], axis=1).take(ingress.src_class[src_rep], axis=0)
        self.class_verdict = np.where(e_code != ALLOW, e_code, i_code).astype(np.uint8)
        self.classes = (len(src_rep), len(dst_rep))  # joint classes (for benchmarks)
        dst_pos = {k: j for j, k in enumerate(self.destinations)}
        pairs = [(i, dst_pos[k]) for i, k in enumerate(self.sources) if k in dst_pos]
        self.self_pairs = (np.array([p[0] for p in pairs], dtype=np.int64),
                           np.array([p[1] for p in pairs], dtype=np.int64))
        self._verdict: np.ndarray | None = None

    @property
    def verdict(self) -> np.ndarray:
        """The pod x pod verdicts (built on first use: a diff of two states needs only classes)."""
        if self._verdict is None:
            # Column-major (Fortran order): one destination's verdicts are contiguous, which is what
            # Reachability.to_frame hands pandas (one Categorical per destination) without a transpose.
            verdict = self.class_verdict.T.take(self.src_class, axis=1).take(self.dst_class, axis=0).T
            verdict[self.self_pairs] = ALLOW  # self traffic never reaches OVS
            self._verdict = verdict
        return self._verdict

    def __repr__(self) -> str:
        return (f"<Evaluation {len(self.sources)}x{len(self.destinations)} pods, "
                f"{self.classes[0]}x{self.classes[1]} classes>")

    def is_self(self, i: int, j: int) -> bool:
        return self.sources[i] == self.destinations[j]

    def cell(self, i: int, j: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """((egress code, rule, pass), (ingress code, rule, pass)) of one cell."""
        if self.is_self(i, j):
            return (ALLOW, SELF, NO_RULE), (ALLOW, SELF, NO_RULE)
        out = []
        for side in (self.egress, self.ingress):
            s, d = side.src_class[i], side.dst_class[j]
            out.append((int(side.code[s, d]), int(side.rule[s, d]), int(side.passed[s, d])))
        return out[0], out[1]

    def _expand(self, side: Side, array: np.ndarray, self_value: int) -> np.ndarray:
        full = side.expand(array)
        full[self.self_pairs] = self_value
        return full

    # Whole-matrix views (pod x pod), built on demand: 4 bytes a cell each.
    @property
    def egress_code(self) -> np.ndarray:
        return self._expand(self.egress, self.egress.code, ALLOW)

    @property
    def ingress_code(self) -> np.ndarray:
        return self._expand(self.ingress, self.ingress.code, ALLOW)

    @property
    def egress_rule(self) -> np.ndarray:
        return self._expand(self.egress, self.egress.rule, SELF)

    @property
    def ingress_rule(self) -> np.ndarray:
        return self._expand(self.ingress, self.ingress.rule, SELF)

    @property
    def egress_pass(self) -> np.ndarray:
        return self._expand(self.egress, self.egress.passed, NO_RULE)

    @property
    def ingress_pass(self) -> np.ndarray:
        return self._expand(self.ingress, self.ingress.passed, NO_RULE)


def _joint(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Classes of the pairs (a[i], b[i]): (class of each i, one representative index per class)."""
    if len(a) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    key = a.astype(np.int64) * (int(b.max()) + 1) + b
    _, rep, inv = np.unique(key, return_index=True, return_inverse=True)
    return inv.ravel().astype(np.int64), rep


# ---------------------------------------------------------------------------- classes


def _row_classes(*parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows that are identical in every part: (class of each row, one representative row per class)."""
    n = parts[0].shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return _classes_of(np.concatenate([_row_bytes(part) for part in parts], axis=1))


def _row_bytes(part: np.ndarray) -> np.ndarray:
    raw = np.packbits(part, axis=1) if part.dtype == bool else part
    return np.ascontiguousarray(raw).view(np.uint8).reshape(part.shape[0], -1) if raw.size else \
        np.zeros((part.shape[0], 0), dtype=np.uint8)


def _classes_of(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = rows.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if rows.shape[1] == 0:
        return np.zeros(n, dtype=np.int64), np.zeros(1, dtype=np.int64)
    packed = np.ascontiguousarray(rows)
    view = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, rep, inv = np.unique(view, return_index=True, return_inverse=True)
    return inv.ravel().astype(np.int64), rep


def _to_words(bits: np.ndarray) -> np.ndarray:
    """(rows x k) bool -> (rows x ceil(k/64)) uint64; rule c is bit c % 64 of word c // 64."""
    rows, k = bits.shape
    words = max(1, -(-k // _WORD_BITS))
    packed = np.packbits(bits, axis=1, bitorder="little")
    out = np.zeros((rows, words * 8), dtype=np.uint8)
    out[:, :packed.shape[1]] = packed
    return out.view("<u8").astype(np.uint64, copy=False)


def _lowest_bit(x: np.ndarray) -> np.ndarray:
    """Index of the lowest set bit of each (non-zero) uint64."""
    low = x & (~x + np.uint64(1))
    return np.log2(low.astype(np.float64)).astype(np.int32)  # powers of two are exact in float64


def first_match(src_bits: np.ndarray, dst_bits: np.ndarray, strategy: str = "auto") -> np.ndarray:
    """For class memberships (ks x k) and (kd x k), in rule order: the first rule matching each
    class pair, or -1.

    Two exact strategies, ``auto`` picks the one that touches fewer cells: ``paint`` each rule's
    rectangle (its sources x its destinations) from the last rule to the first, so the first
    rule's write stays (cost: the rectangles' areas; good when rules select few pods, as most
    do), or walk the rules 64 at a time as bit ``words`` (cost: rows x columns having a bit in
    each word; good when rules select most pods).
    """
    ks, k = src_bits.shape
    kd = dst_bits.shape[0]
    if k == 0 or ks == 0 or kd == 0:
        return np.full((ks, kd), -1, dtype=np.int32)
    a_t = np.ascontiguousarray(src_bits.T)  # one contiguous row per rule
    b_t = np.ascontiguousarray(dst_bits.T)
    if strategy == "auto":
        s_count = a_t.sum(axis=1, dtype=np.int64)
        d_count = b_t.sum(axis=1, dtype=np.int64)
        paint_cost = int((s_count * d_count).sum()) + 2_000 * k  # + a numpy call's overhead per rule
        word_cost = 6 * ks * kd * -(-k // _WORD_BITS)  # several passes over the block per word
        strategy = "paint" if paint_cost <= word_cost else "words"
    return _paint(a_t, b_t) if strategy == "paint" else _words(src_bits, dst_bits)


def _paint(a_t: np.ndarray, b_t: np.ndarray) -> np.ndarray:
    first = np.full((a_t.shape[1], b_t.shape[1]), -1, dtype=np.int32)
    for r in range(a_t.shape[0] - 1, -1, -1):
        rows = np.flatnonzero(a_t[r])
        if len(rows):
            cols = np.flatnonzero(b_t[r])
            if len(cols):
                first[np.ix_(rows, cols)] = r
    return first


def _words(src_bits: np.ndarray, dst_bits: np.ndarray) -> np.ndarray:
    ks, kd = src_bits.shape[0], dst_bits.shape[0]
    first = np.full((ks, kd), -1, dtype=np.int32)
    a_words, b_words = _to_words(src_bits), _to_words(dst_bits)
    open_ = np.ones((ks, kd), dtype=bool)
    for w in range(a_words.shape[1]):
        rows = np.flatnonzero(a_words[:, w])
        cols = np.flatnonzero(b_words[:, w])
        if len(rows) == 0 or len(cols) == 0:
            continue
        block = a_words[rows, w][:, None] & b_words[cols, w][None, :]
        hit = block != 0
        hit &= open_[np.ix_(rows, cols)]
        if not hit.any():
            continue
        r, c = np.nonzero(hit)
        first[rows[r], cols[c]] = w * _WORD_BITS + _lowest_bit(block[r, c])
        open_[rows[r], cols[c]] = False
    return first


# ---------------------------------------------------------------------------- the engine


class _Members:
    """Pod-set -> position arrays in one list of pod keys (cached per distinct set)."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = list(keys)
        self.index = {k: i for i, k in enumerate(self.keys)}
        # Keyed by content: rules built from the same selectors carry equal sets in distinct
        # objects (10,000 pods x 2,000 policies: 5,700 set objects, 1,500 distinct sets), and a
        # frozenset's hash and equality run in C, 4x faster than converting it again.
        self._cache: dict[frozenset[str], np.ndarray] = {}

    def positions(self, members: frozenset[str]) -> np.ndarray:
        found = self._cache.get(members)
        if found is None:
            if len(members) > len(self.keys):
                found = np.fromiter((i for i, k in enumerate(self.keys) if k in members), dtype=np.int64)
            else:
                try:  # usually every member is one of our keys: a C-level loop
                    found = np.fromiter(map(self.index.__getitem__, members), dtype=np.int64, count=len(members))
                except KeyError:
                    get = self.index.get
                    found = np.fromiter((p for p in map(get, members) if p is not None), dtype=np.int64)
            self._cache[members] = found
        return found


_WORDS = np.zeros(0, dtype=np.uint64)


def _random_words(count: int) -> np.ndarray:
    """The first ``count`` of a fixed sequence of random odd 64-bit words (grown on demand)."""
    global _WORDS
    if len(_WORDS) < count:
        rng = np.random.default_rng(0x5EED)
        _WORDS = rng.integers(0, 2**63, size=max(count, 2 * len(_WORDS), 1024), dtype=np.uint64) * np.uint64(2) \
            + np.uint64(1)
    return _WORDS[:count]


def _partition(n: int, columns: list[np.ndarray], values: np.ndarray,
               weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classes of ``n`` items that belong to the same ``columns`` (position arrays) and have equal
    rows in ``values`` (n x m ints): (class of each item, a representative per class, the
    classes x columns membership matrix).

    Each item gets a 64-bit fingerprint (XOR of a random word per column it belongs to, mixed
    with its values); equal fingerprints make a class. The classes are then checked exactly
    (every column holds all of a class or none of it, values agree within it) and, on a
    fingerprint collision (about 10^-11 for 10,000 items), computed from the full membership matrix.
    """
    if weights is None:  # (tests pass colliding weights)
        weights = _random_words(len(columns))
    fingerprint = np.zeros(n, dtype=np.uint64)
    for c, pos in enumerate(columns):
        fingerprint[pos] ^= weights[c]
    if values.shape[1]:
        mix = _random_words(values.shape[1] + 1)[1:]
        with np.errstate(over="ignore"):
            for c in range(values.shape[1]):
                v = values[:, c].astype(np.uint64) + np.uint64(1)
                fingerprint ^= (v * mix[c]) ^ (v << np.uint64(29))
    klass, rep = _classes_of(fingerprint.view(np.uint8).reshape(n, 8))
    k = len(rep)
    lengths = np.array([len(pos) for pos in columns], dtype=np.int64)
    membership = np.zeros((k, len(columns)), dtype=bool)
    if lengths.sum():
        membership[klass[np.concatenate(columns)], np.repeat(np.arange(len(columns)), lengths)] = True
    # Exact check: a column holds whole classes iff the sizes of the classes it touches add up
    # to its length (a class only partly in it would count in full).
    sizes = np.bincount(klass, minlength=k).astype(np.int64)
    exact = bool(np.array_equal(np.einsum("k,kc->c", sizes, membership.view(np.uint8)), lengths)) \
        if len(columns) else True
    exact = exact and (bool((values == values[rep][klass]).all()) if values.size else True)
    if exact:
        return klass, rep, membership
    full = np.zeros((len(columns), n), dtype=bool)  # a fingerprint collision: the slow, exact way
    for c, pos in enumerate(columns):
        full[c, pos] = True
    klass, rep = _classes_of(np.concatenate([np.packbits(full, axis=0).T, _row_bytes(values)], axis=1))
    return klass, rep, np.ascontiguousarray(full[:, rep].T)


@dataclass
class _Prepared:
    """One direction's rules (in evaluation order) and the class partition of its pods."""

    direction: str
    rules: list[CompiledRule]
    stage_of: np.ndarray  # stage index (0 antrea, 1 k8s, 2 baseline) per rule
    src_class: np.ndarray
    dst_class: np.ndarray
    src_members: np.ndarray  # (source classes x rules) bool
    dst_members: np.ndarray  # (destination classes x rules) bool
    isolated: np.ndarray  # isolation signature (0: not isolated) per source (egress) / destination (ingress) class
    named: np.ndarray  # (destination classes x names) resolved named ports (0: none)


class Engine:
    """A PolicySet prepared for one list of sources and destinations: evaluates any probe.

    Building it costs one pass over every rule's pod sets; each :meth:`evaluate` then works on
    classes only. ``Lab.diff`` and the benchmarks evaluate many probes on one engine.
    """

    def __init__(self, policy_set: PolicySet, pods: Sequence[Pod], sources: Sequence[str] | None = None,
                 destinations: Sequence[str] | None = None) -> None:
        # (The engine keeps the compiled rules it needs, not the PolicySet: the cache of engines
        # must not keep the PolicySet it is keyed on alive.)
        self.sources = list(sources) if sources is not None else [p.key for p in pods]
        self.destinations = list(destinations) if destinations is not None else [p.key for p in pods]
        by_key = {p.key: p for p in pods}
        src = _Members(self.sources)
        dst = _Members(self.destinations)
        # Named ports resolve on the destination pod (in both directions): one column per
        # (name, protocol) some rule uses, holding each destination's containerPort number.
        self.names = sorted({(spec.port, spec.protocol) for rule in policy_set.rules for spec in rule.ports
                             if isinstance(spec.port, str)})
        self._name_index = {n: i for i, n in enumerate(self.names)}
        named = np.zeros((len(self.destinations), len(self.names)), dtype=np.int32)
        for j, key in enumerate(self.destinations):
            pod = by_key.get(key)
            if pod is not None and pod.ports:
                for c, (name, protocol) in enumerate(self.names):
                    named[j, c] = pod.named_port(name, protocol) or 0
        # Per direction: the isolation signature of each source (egress) or destination (ingress)
        # pod, and the K8s NetworkPolicies of each signature.
        self.isolation_ids: dict[str, np.ndarray] = {}
        self.isolation_sets: dict[str, list[tuple[str, ...]]] = {}
        self._prepared = {d: self._prepare(policy_set, d, src, dst, named) for d in DIRECTIONS}
        self._sides: dict[tuple, Side] = {}

    def _prepare(self, policy_set: PolicySet, direction: str, src: _Members, dst: _Members,
                 named: np.ndarray) -> _Prepared:
        rules = [r for stage in STAGES for r in policy_set.ordered(stage, direction)]
        stage_of = np.array([STAGES.index(r.stage) for r in rules], dtype=np.int8)
        here, there = (src, dst) if direction == "Egress" else (dst, src)
        applied = [here.positions(r.applied_to) for r in rules]
        peers = [there.positions(r.peers.pods) for r in rules]
        # K8s isolation as a signature per pod: which NetworkPolicies isolate it in this direction
        # (0: none). Pods isolated by different policies are kept apart, so that a class pair has
        # one explanation ("K8s NetworkPolicy isolation (x/deny-all)").
        isolation = policy_set.isolation[direction]
        signatures: dict[tuple[str, ...], int] = {(): 0}
        signature = np.fromiter((signatures.setdefault(tuple(isolation.get(k, ())), len(signatures))
                                 for k in here.keys), dtype=np.int32, count=len(here.keys))
        self.isolation_ids[direction] = signature
        self.isolation_sets[direction] = list(signatures)
        used = sorted({self._name_index[(spec.port, spec.protocol)] for r in rules for spec in r.ports
                       if isinstance(spec.port, str)})
        s_cols, d_cols = (applied, peers) if direction == "Egress" else (peers, applied)
        s_values = signature[:, None] if direction == "Egress" else np.zeros((len(src.keys), 0), dtype=np.int32)
        d_values = np.concatenate([named[:, used], signature[:, None]], axis=1) if direction == "Ingress" \
            else named[:, used]
        src_class, src_rep, s_cls = _partition(len(src.keys), s_cols, s_values)
        dst_class, dst_rep, d_cls = _partition(len(dst.keys), d_cols, d_values)
        isolated = signature[src_rep] if direction == "Egress" else signature[dst_rep]
        full_named = np.zeros((len(dst_rep), len(self.names)), dtype=np.int32)
        full_named[:, used] = named[dst_rep][:, used]
        return _Prepared(direction, rules, stage_of, src_class, dst_class, s_cls, d_cls, isolated, full_named)

    @property
    def classes(self) -> dict[str, tuple[int, int]]:
        """Source and destination classes per direction (before a probe merges them further)."""
        return {d: (p.src_members.shape[0], p.dst_members.shape[0]) for d, p in self._prepared.items()}

    # ------------------------------------------------------------------ one probe

    def _port_vector(self, rule: CompiledRule, probe: Probe, named: np.ndarray) -> tuple[np.ndarray | bool, bool]:
        """Does the rule's port part match the probe, per destination class? (+ ambiguous?)."""
        if not any(isinstance(spec.port, str) for spec in rule.ports):
            m = service_match(rule, probe, None)
            return m is True, m == AMBIGUOUS
        if probe.protocol == "ICMP" or rule.to_services:
            return service_match(rule, probe, None) is True, False
        match = np.zeros(named.shape[0], dtype=bool)
        ambiguous = False
        for spec in rule.ports:
            if spec.protocol != probe.protocol:
                continue
            if spec.port is None:
                port_ok: np.ndarray | bool = True
            elif isinstance(spec.port, str):
                port_ok = named[:, self._name_index[(spec.port, spec.protocol)]] == probe.port
            elif spec.end_port is not None:
                port_ok = spec.port <= probe.port <= spec.end_port
            else:
                port_ok = spec.port == probe.port
            if not np.any(port_ok):
                continue
            src_ok = source_port_match(spec.source_port, spec.source_end_port, probe)
            if src_ok is True:
                match |= port_ok
            elif src_ok == AMBIGUOUS:
                ambiguous = True
        return match, ambiguous

    def _side(self, prep: _Prepared, probe: Probe, ambiguous: set[int]) -> Side:
        active: list[int] = []
        named_cols: dict[int, np.ndarray] = {}
        for c, rule in enumerate(prep.rules):
            if not rule.ports and not rule.icmp and not rule.to_services:  # any port and protocol
                active.append(c)
                continue
            ok, amb = self._port_vector(rule, probe, prep.named)
            if amb:
                ambiguous.add(rule.rule_id)
            if isinstance(ok, np.ndarray):
                if not ok.any():
                    continue
                named_cols[len(active)] = ok
            elif not ok:
                continue
            active.append(c)
        # Probes that activate the same rules (same named-port matches) decide alike: TCP ports
        # no rule names, UDP and SCTP when only port-less rules apply ... (a diff probes many).
        signature = (prep.direction, tuple(active), tuple((k, v.tobytes()) for k, v in named_cols.items()))
        cached = self._sides.get(signature)
        if cached is not None:
            return cached
        side = self._decide(prep, active, named_cols)
        self._sides[signature] = side
        while len(self._sides) > 1 and sum(x.nbytes for x in self._sides.values()) > _SIDES_CACHED_BYTES:
            del self._sides[next(iter(self._sides))]  # the oldest
        return side

    def _decide(self, prep: _Prepared, active: list[int], named_cols: dict[int, np.ndarray]) -> Side:
        ks, kd = prep.src_members.shape[0], prep.dst_members.shape[0]
        a = prep.src_members[:, active]
        b = prep.dst_members[:, active]
        for pos, vec in named_cols.items():
            b[:, pos] &= vec
        # Merge the classes further: for this probe only the active rules tell pods apart (not
        # worth its numpy calls on a few thousand class pairs).
        iso_src = prep.isolated if prep.direction == "Egress" else np.zeros(ks, dtype=np.int32)
        iso_dst = prep.isolated if prep.direction == "Ingress" else np.zeros(kd, dtype=np.int32)
        if ks * kd > _SMALL:
            s_inv, s_rep = _row_classes(a, iso_src[:, None])
            d_inv, d_rep = _row_classes(b, iso_dst[:, None])
            a, b = a[s_rep], b[d_rep]
        else:
            s_inv, s_rep, d_inv, d_rep = np.arange(ks), np.arange(ks), np.arange(kd), np.arange(kd)
        iso = (iso_src[s_rep][:, None] if prep.direction == "Egress" else iso_dst[d_rep][None, :]) != 0
        ks2, kd2 = a.shape[0], b.shape[0]

        stage_of = prep.stage_of[active] if active else np.zeros(0, dtype=np.int8)
        shape = (ks2, kd2)

        def stage(index: int, no_match_action: int, no_match_rule: int, action: int | None = None):
            """(action code, rule id) per class pair for one stage's first match; the values at
            the end of the lookup tables are what a pair no rule matched gets (index -1)."""
            cols = np.flatnonzero(stage_of == index)
            if len(cols) == 0:
                return no_match_action, no_match_rule
            entries = [prep.rules[active[c]] for c in cols]
            acts = np.array([ACTION_CODES[r.action] if action is None else action for r in entries]
                            + [no_match_action], dtype=np.uint8)
            ids = np.array([r.rule_id for r in entries] + [no_match_rule], dtype=np.int32)
            # The stage's own rules often tell far fewer classes apart (K8s NetworkPolicy peers
            # are few): match on those, then spread the answer over the direction's classes.
            stage_a, stage_b = a[:, cols], b[:, cols]
            if ks2 * kd2 <= _SMALL:
                first = first_match(stage_a, stage_b)
                return acts[first], ids[first]
            s_of, s_rep = _row_classes(stage_a)
            d_of, d_rep = _row_classes(stage_b)
            if len(s_rep) * len(d_rep) * 2 > ks2 * kd2:  # hardly fewer: spreading would cost more
                first = first_match(stage_a, stage_b)
                return acts[first], ids[first]
            first = first_match(stage_a[s_rep], stage_b[d_rep])
            return (acts[first].take(d_of, axis=1).take(s_of, axis=0),
                    ids[first].take(d_of, axis=1).take(s_of, axis=0))

        # 1. Antrea tiers: the first match decides, unless it is Pass (or nothing matched).
        antrea_code, antrea_rule = stage(0, _NONE, NO_RULE)
        code = antrea_code if isinstance(antrea_code, np.ndarray) else np.full(shape, antrea_code, dtype=np.uint8)
        rule_id = antrea_rule if isinstance(antrea_rule, np.ndarray) else np.full(shape, antrea_rule, dtype=np.int32)
        passed = code == PASS
        if passed.any():
            pass_id = np.full(shape, NO_RULE, dtype=np.int32)
            np.copyto(pass_id, rule_id, where=passed)
        else:  # no Pass rule decided: one value for every pair, no memory
            pass_id = np.broadcast_to(np.int32(NO_RULE), shape)
        open_ = passed
        open_ |= code == _NONE
        if open_.any():
            iso = np.broadcast_to(iso, shape)
            # 2. K8s NetworkPolicy on isolated pods: allowed by the first matching rule, else dropped.
            k8s_code, k8s_rule = stage(1, DROP, K8S_ISOLATION, action=ALLOW)
            isolated_open = open_ & iso
            np.copyto(code, k8s_code, where=isolated_open)
            np.copyto(rule_id, k8s_rule, where=isolated_open)
            # 3. Baseline tier on pods K8s NetworkPolicy does not isolate; 4. no match: allowed.
            base_code, base_rule = stage(2, ALLOW, NO_RULE)
            open_ &= ~iso
            np.copyto(code, base_code, where=open_)
            np.copyto(rule_id, base_rule, where=open_)
        return Side(prep.direction, s_inv[prep.src_class], d_inv[prep.dst_class], code, rule_id, pass_id)

    def evaluate(self, probe: Probe) -> Evaluation:
        """Evaluate ``probe`` from every source to every destination."""
        ambiguous: set[int] = set()
        egress = self._side(self._prepared["Egress"], probe, ambiguous)
        ingress = self._side(self._prepared["Ingress"], probe, ambiguous)
        return Evaluation(self.sources, self.destinations, egress, ingress, ambiguous)


# Engines are cached per PolicySet, so that several probes over the same policy set and pods (a
# lab's matrices for TCP/80, UDP/53 ...) prepare it once. The cache lives as long as its PolicySet
# (a weak reference drops it): a lab that recompiles after a change leaves nothing behind.
_ENGINES: dict[int, tuple[weakref.ref, list[tuple[list[Pod], tuple[str, ...], tuple[str, ...], Engine]]]] = {}
_ENGINES_PER_POLICY_SET = 4


def engine_for(policy_set: PolicySet, pods: Sequence[Pod], sources: Sequence[str] | None = None,
               destinations: Sequence[str] | None = None) -> Engine:
    """The cached :class:`Engine` for these arguments, or a new one."""
    src = tuple(sources) if sources is not None else tuple(p.key for p in pods)
    dst = tuple(destinations) if destinations is not None else tuple(p.key for p in pods)
    pods = list(pods)
    key = id(policy_set)
    entry = _ENGINES.get(key)
    if entry is None or entry[0]() is not policy_set:
        entry = (weakref.ref(policy_set, lambda _, key=key: _ENGINES.pop(key, None)), [])
        _ENGINES[key] = entry
    engines = entry[1]
    for i, (cached_pods, s, d, engine) in enumerate(engines):
        # The same Pod objects (a ClusterState keeps them until they change); comparing them by
        # value would cost as much as a small engine.
        if s == src and d == dst and len(cached_pods) == len(pods) and all(map(operator.is_, cached_pods, pods)):
            engines.insert(0, engines.pop(i))
            return engine
    engine = Engine(policy_set, pods, src, dst)
    if len(src) * len(dst) > _SMALL:  # a single cell (lab.explain) is cheap to redo: it evicts nothing
        engines.insert(0, (pods, src, dst, engine))
        del engines[_ENGINES_PER_POLICY_SET:]
    return engine


def evaluate(policy_set: PolicySet, pods: Sequence[Pod], probe: Probe,
             sources: Sequence[str] | None = None, destinations: Sequence[str] | None = None) -> Evaluation:
    """Evaluate ``probe`` from every source pod to every destination pod."""
    return engine_for(policy_set, pods, sources, destinations).evaluate(probe)


__all__ = ["ALLOW", "DROP", "REJECT", "PASS", "VERDICT_NAMES", "NO_RULE", "K8S_ISOLATION", "SELF",
           "Engine", "Evaluation", "Side", "engine_for", "evaluate", "first_match"]

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

Speed: pods are grouped into classes that every rule treats alike (same membership in every
applied-to and peer set, same isolation); the first-match search runs on the class matrix and the
result is expanded back to pods with one fancy-indexing step, so 1,000 pods x 600 rules take a
fraction of a second instead of 600 million Python-level checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..model.objects import Pod
from .compiler import CompiledRule, PolicySet
from .probe import AMBIGUOUS, Probe, service_match, uses_named_ports

ALLOW, DROP, REJECT, PASS = 0, 1, 2, 3
VERDICT_NAMES = ("allow", "drop", "reject")
ACTION_CODES = {"Allow": ALLOW, "Drop": DROP, "Reject": REJECT, "Pass": PASS}

# Special "rule ids" for decisions not made by a compiled rule.
NO_RULE = -1  # nothing matched: default allow
K8S_ISOLATION = -2  # dropped by K8s NetworkPolicy isolation (no K8s rule allowed it)
SELF = -3  # a pod talking to itself
_CHUNK_CELLS = 24_000_000  # bound on the (src classes x dst classes x rules) boolean block


@dataclass
class Evaluation:
    """Result of evaluating one probe over sources x destinations (pod keys)."""

    sources: list[str]
    destinations: list[str]
    verdict: np.ndarray  # uint8: ALLOW / DROP / REJECT
    egress_rule: np.ndarray  # int32: deciding rule id or NO_RULE / K8S_ISOLATION / SELF
    ingress_rule: np.ndarray
    egress_pass: np.ndarray  # int32: the Pass rule that sent the egress side on, or NO_RULE
    ingress_pass: np.ndarray
    egress_code: np.ndarray  # uint8 verdict of each side alone
    ingress_code: np.ndarray
    ambiguous_rules: list[int] = field(default_factory=list)
    classes: tuple[int, int] = (0, 0)  # number of source and destination classes (for benchmarks)


def _mask(keys_index: dict[str, int], members: frozenset[str], n: int, cache: dict) -> np.ndarray:
    cached = cache.get(members)
    if cached is None:
        cached = np.zeros(n, dtype=bool)
        idx = [keys_index[k] for k in members if k in keys_index]
        if idx:
            cached[idx] = True
        cache[members] = cached
    return cached


def _first_match(src_cls: np.ndarray, dst_cls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For class masks (ks x R) and (kd x R): (any match, index of first matching rule) per cell."""
    ks, kd, r = src_cls.shape[0], dst_cls.shape[0], src_cls.shape[1]
    any_m = np.zeros((ks, kd), dtype=bool)
    first = np.zeros((ks, kd), dtype=np.int64)
    if r == 0 or ks == 0 or kd == 0:
        return any_m, first
    step = max(1, _CHUNK_CELLS // max(1, kd * r))
    for start in range(0, ks, step):
        block = src_cls[start:start + step, None, :] & dst_cls[None, :, :]
        any_m[start:start + step] = block.any(axis=2)
        first[start:start + step] = block.argmax(axis=2)
    return any_m, first


def evaluate(policy_set: PolicySet, pods: list[Pod], probe: Probe,
             sources: list[str] | None = None, destinations: list[str] | None = None) -> Evaluation:
    """Evaluate ``probe`` from every source pod to every destination pod."""
    by_key = {p.key: p for p in pods}
    src_keys = sources if sources is not None else [p.key for p in pods]
    dst_keys = destinations if destinations is not None else [p.key for p in pods]
    src_index = {k: i for i, k in enumerate(src_keys)}
    dst_index = {k: i for i, k in enumerate(dst_keys)}
    ns, nd = len(src_keys), len(dst_keys)
    src_cache: dict = {}
    dst_cache: dict = {}
    ambiguous: list[int] = []

    # Columns: one per (stage, direction) rule that can match this probe.
    src_cols: list[np.ndarray] = []
    dst_cols: list[np.ndarray] = []
    lists: dict[tuple[str, str], list[tuple[int, CompiledRule]]] = {}
    for stage in ("antrea", "k8s", "baseline"):
        for direction in ("Egress", "Ingress"):
            entries = []
            for rule in policy_set.ordered(stage, direction):
                if uses_named_ports(rule):
                    port_vec = np.array([service_match(rule, probe, by_key.get(k)) is True for k in dst_keys],
                                        dtype=bool)
                    if not port_vec.any():
                        continue
                else:
                    m = service_match(rule, probe, None)
                    if m == AMBIGUOUS:
                        ambiguous.append(rule.rule_id)
                    if m is not True:
                        continue
                    port_vec = None
                if direction == "Egress":
                    s = _mask(src_index, rule.applied_to, ns, src_cache)
                    d = _mask(dst_index, rule.peers.pods, nd, dst_cache)
                else:
                    s = _mask(src_index, rule.peers.pods, ns, src_cache)
                    d = _mask(dst_index, rule.applied_to, nd, dst_cache)
                if port_vec is not None:
                    d = d & port_vec
                if not s.any() or not d.any():
                    continue
                entries.append((len(src_cols), rule))
                src_cols.append(s)
                dst_cols.append(d)
            lists[(stage, direction)] = entries
    iso_egress = np.array([k in policy_set.isolation["Egress"] for k in src_keys], dtype=bool)
    iso_ingress = np.array([k in policy_set.isolation["Ingress"] for k in dst_keys], dtype=bool)
    src_cols.append(iso_egress)
    dst_cols.append(iso_ingress)

    # Equivalence classes of pods: identical rows of the membership matrices.
    src_mat = np.stack(src_cols, axis=1) if ns else np.zeros((0, len(src_cols)), dtype=bool)
    dst_mat = np.stack(dst_cols, axis=1) if nd else np.zeros((0, len(dst_cols)), dtype=bool)
    src_rep, src_inv = _classes(src_mat)
    dst_rep, dst_inv = _classes(dst_mat)
    s_cls, d_cls = src_mat[src_rep], dst_mat[dst_rep]
    iso_e_cls, iso_i_cls = s_cls[:, -1], d_cls[:, -1]
    ks, kd = len(src_rep), len(dst_rep)

    sides = {}
    for direction in ("Egress", "Ingress"):
        code = np.full((ks, kd), ALLOW, dtype=np.uint8)
        rule_id = np.full((ks, kd), NO_RULE, dtype=np.int32)
        pass_id = np.full((ks, kd), NO_RULE, dtype=np.int32)
        decided = np.zeros((ks, kd), dtype=bool)
        iso = (iso_e_cls[:, None] if direction == "Egress" else iso_i_cls[None, :]) & np.ones((ks, kd), dtype=bool)
        for stage in ("antrea", "k8s", "baseline"):
            entries = lists[(stage, direction)]
            cols = [c for c, _ in entries]
            hit, first = _first_match(s_cls[:, cols], d_cls[:, cols])
            ids = np.array([r.rule_id for _, r in entries] or [0], dtype=np.int32)
            acts = np.array([ACTION_CODES[r.action] for _, r in entries] or [ALLOW], dtype=np.uint8)
            if stage == "antrea":
                is_pass = hit & (acts[first] == PASS)
                pass_id[is_pass] = ids[first][is_pass]
                take = hit & ~is_pass
            elif stage == "k8s":
                open_ = ~decided & iso
                allowed = open_ & hit
                code[open_] = DROP
                rule_id[open_] = K8S_ISOLATION
                code[allowed] = ALLOW
                rule_id[allowed] = ids[first][allowed]
                decided |= open_
                continue
            else:
                take = ~decided & hit
            code[take] = acts[first][take]
            rule_id[take] = ids[first][take]
            decided |= take
        sides[direction] = (code, rule_id, pass_id)

    e_code, e_rule, e_pass = (a[src_inv][:, dst_inv] for a in sides["Egress"])
    i_code, i_rule, i_pass = (a[src_inv][:, dst_inv] for a in sides["Ingress"])
    verdict = np.where(e_code != ALLOW, e_code, i_code).astype(np.uint8)
    # Self traffic never reaches OVS.
    dst_pos = np.array([dst_index.get(k, -1) for k in src_keys])
    rows = np.nonzero(dst_pos >= 0)[0]
    if len(rows):
        cols = dst_pos[rows]
        for arr, value in ((verdict, ALLOW), (e_code, ALLOW), (i_code, ALLOW), (e_rule, SELF), (i_rule, SELF),
                           (e_pass, NO_RULE), (i_pass, NO_RULE)):
            arr[rows, cols] = value
    return Evaluation(list(src_keys), list(dst_keys), verdict, e_rule, i_rule, e_pass, i_pass, e_code, i_code,
                      sorted(set(ambiguous)), (ks, kd))


def _classes(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of one representative per distinct row, and each row's class."""
    if mat.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    packed = np.packbits(mat, axis=1)
    packed = np.ascontiguousarray(packed)
    view = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, rep, inv = np.unique(view, return_index=True, return_inverse=True)
    return rep, inv.ravel()

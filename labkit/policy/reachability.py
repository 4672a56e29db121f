"""The reachability matrix (labkit's shared currency) and the explanation of one cell.

One type serves the engine's expectation and every backend's measurement: tests compare them
cell by cell, the CLI prints them, widgets draw them. Text form is the truth table of the
upstream network-policy e2e tests: ``.`` allowed, ``X`` dropped, plus ``R`` rejected.

A measured cell can also be ``error`` (``E``): the probe failed for a reason that is not the
policy's (no route or no ARP answer in the source pod, a dead OVS daemon, no server where the pod
declares a port). Such a cell is never graded ``drop`` or ``reject``; ``errors`` says why, per cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from .compiler import CompiledRule, PolicySet
from .evaluate import ALLOW, DROP, K8S_ISOLATION, NO_RULE, REJECT, SELF, VERDICT_NAMES, Evaluation
from .probe import Probe

# A measured cell the infrastructure (not the policy) decided; only backends produce it.
ERROR = len(VERDICT_NAMES)
CELL_NAMES = VERDICT_NAMES + ("error",)
SYMBOLS = {ALLOW: ".", DROP: "X", REJECT: "R", ERROR: "E"}
NOT_REACHED = "not_reached"  # Decision.stage of an ingress side the packet never got to


def transpose(matrix: np.ndarray, tile: int = 512) -> np.ndarray:
    """A C-contiguous transpose, tile by tile (5x faster than numpy's strided copy at 10^8 bytes:
    each tile's rows and columns stay in cache)."""
    rows, cols = matrix.shape
    out = np.empty((cols, rows), dtype=matrix.dtype)
    for i in range(0, rows, tile):
        for j in range(0, cols, tile):
            out[j:j + tile, i:i + tile] = matrix[i:i + tile, j:j + tile].T
    return out


def frame_of_columns(arrays: list, index, columns):
    """A DataFrame of one array per column. pandas' own ``DataFrame._from_arrays`` skips the
    per-column checks ``DataFrame(dict)`` makes (a third of the time of a 1,000-column matrix);
    the public constructor is the fallback should a pandas version not have it."""
    import pandas as pd

    build = getattr(pd.DataFrame, "_from_arrays", None)
    if build is not None:
        try:
            return build(arrays, columns=columns, index=index, verify_integrity=False)
        except TypeError:  # its signature changed
            pass
    frame = pd.DataFrame(dict(enumerate(arrays)), index=index, copy=False)
    frame.columns = columns
    return frame


def verdict_dtype(errors: bool = False):
    """The pandas ``CategoricalDtype`` of verdict cells: categories allow, drop, reject (unordered),
    and ``error`` for a measured matrix that has error cells."""
    import pandas as pd

    return pd.CategoricalDtype(list(CELL_NAMES if errors else VERDICT_NAMES), ordered=False)

FROM_SYMBOL = {".": ALLOW, "X": DROP, "R": REJECT}
_NAMES_TO_CODE = {name: i for i, name in enumerate(CELL_NAMES)}


@dataclass(frozen=True)
class Decision:
    """How one side (egress at the source, ingress at the destination) decided."""

    direction: str
    action: str  # Allow | Drop | Reject ("" when the side was not reached)
    stage: str  # antrea | k8s | baseline | default | self | not_reached
    rule: CompiledRule | None = None
    passed_by: CompiledRule | None = None  # an Antrea Pass rule that handed over to K8s/baseline
    isolated_by: tuple[str, ...] = ()  # K8s NetworkPolicies isolating the pod in this direction

    @property
    def reached(self) -> bool:
        return self.stage != NOT_REACHED

    @property
    def reason(self) -> str:
        if self.stage == NOT_REACHED:
            return ("not reached: the egress side at the source already denied the packet, so no ingress rule "
                    "at the destination saw it")
        if self.stage == "self":
            return "a pod reaching its own IP never leaves its network namespace: always allowed"
        prefix = f"passed on by {self.passed_by.describe()}; then " if self.passed_by else ""
        if self.rule is not None:
            return prefix + self.rule.describe()
        if self.stage == "k8s":
            return (prefix + f"K8s NetworkPolicy isolation ({', '.join(self.isolated_by)}): no rule allows it, "
                    "default deny")
        return prefix + "no rule: default allow"

    def to_dict(self) -> dict:
        rule = self.rule
        return {
            "direction": self.direction,
            "action": self.action or None,
            "stage": self.stage,
            "policy": rule.policy_ref if rule else ("K8sNetworkPolicy" if self.stage == "k8s" else None),
            "policy_kind": rule.policy_kind if rule else None,
            "tier": rule.tier if rule and rule.tier else None,
            "rule_name": rule.rule_name if rule else None,
            "rule_index": rule.rule_index if rule else None,
            "passed_by": self.passed_by.policy_ref if self.passed_by else None,
            "isolated_by": list(self.isolated_by),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Explanation:
    src: str
    dst: str
    probe: Probe
    verdict: str
    egress: Decision
    ingress: Decision

    @property
    def deciding(self) -> Decision:
        """The side that decided the verdict (egress if it denied, else ingress)."""
        return self.egress if self.egress.action != "Allow" else self.ingress

    def __str__(self) -> str:
        return (f"{self.src} -> {self.dst} {self.probe}: {self.verdict}\n"
                f"  egress  (at {self.src}): {self.egress.action or '-':<6} {self.egress.reason}\n"
                f"  ingress (at {self.dst}): {self.ingress.action or '-':<6} {self.ingress.reason}")

    def to_dict(self) -> dict:
        return {"src": self.src, "dst": self.dst, "probe": str(self.probe), "verdict": self.verdict,
                "egress": self.egress.to_dict(), "ingress": self.ingress.to_dict()}

    _repr_pretty_ = lambda self, p, cycle: p.text(str(self))  # noqa: E731  (IPython pretty printer)


def decision_of(direction: str, code: int, rule_id: int, pass_id: int, policy_set: PolicySet | None,
              pod: str) -> Decision:
    """One side's Decision from the engine's codes: its verdict code, deciding rule id (or
    NO_RULE / K8S_ISOLATION / SELF), the Pass rule that handed it on, for ``pod`` (the source on
    egress, the destination on ingress)."""
    action = ("Allow", "Drop", "Reject")[code]
    if rule_id == SELF:
        return Decision(direction, action, "self")
    passed_by = policy_set.rule(pass_id) if policy_set is not None and pass_id >= 0 else None
    if rule_id == K8S_ISOLATION:
        isolated = tuple(policy_set.isolation[direction].get(pod, ())) if policy_set else ()
        return Decision(direction, action, "k8s", None, passed_by, tuple(f"K8sNetworkPolicy:{p}" for p in isolated))
    if rule_id == NO_RULE or policy_set is None:
        return Decision(direction, action, "default", None, passed_by)
    rule = policy_set.rule(rule_id)
    return Decision(direction, action, rule.stage, rule, passed_by)


@dataclass
class Reachability:
    """Verdicts for one probe from every source pod to every destination pod."""

    sources: list[str]
    destinations: list[str]
    codes: np.ndarray  # uint8, ALLOW / DROP / REJECT (/ ERROR, measured cells only)
    probe: Probe
    kind: str = "expected"  # expected (engine) | observed (measured by a backend)
    backend: str = "sim"
    evaluation: Evaluation | None = field(default=None, repr=False)
    policy_set: PolicySet | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list)
    errors: dict[tuple[str, str], str] = field(default_factory=dict)  # (src, dst) -> why the cell is an error

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_evaluation(cls, ev: Evaluation, probe: Probe, policy_set: PolicySet, backend: str = "sim") -> "Reachability":
        warnings = [f"{policy_set.rule(r).describe()}: its sourcePort range partly overlaps the ephemeral range "
                    "32768-60999, so the verdict depends on the source port; pass src_port to decide"
                    for r in ev.ambiguous_rules]
        return cls(ev.sources, ev.destinations, ev.verdict, probe, "expected", backend, ev, policy_set, warnings)

    @classmethod
    def from_text(cls, text: str, probe: Probe | None = None, kind: str = "expected") -> "Reachability":
        """Parse a truth table: a header line of destinations, then ``src  . X R ...`` lines."""
        lines = [ln.split() for ln in text.strip().splitlines() if ln.strip() and not ln.strip().startswith("#")]
        if not lines:
            raise ValueError("empty reachability table")
        header = lines[0]
        sources, rows = [], []
        for ln in lines[1:]:
            if len(ln) != len(header) + 1:
                raise ValueError(f"row {ln[0]!r} has {len(ln) - 1} cells, expected {len(header)}")
            sources.append(ln[0])
            try:
                rows.append([FROM_SYMBOL[c] for c in ln[1:]])
            except KeyError as exc:
                raise ValueError(f"row {ln[0]!r}: unknown cell {exc.args[0]!r}; use . (allow), X (drop), R (reject)")
        return cls(sources, header, np.array(rows, dtype=np.uint8).reshape(len(sources), len(header)),
                   probe or Probe(), kind)

    @classmethod
    def from_cells(cls, sources: list[str], destinations: list[str], cells: dict[tuple[str, str], str],
                   probe: Probe, kind: str = "observed", backend: str = "",
                   errors: dict[tuple[str, str], str] | None = None) -> "Reachability":
        """From verdict names per (src, dst); ``errors`` gives the reason of every ``error`` cell."""
        codes = np.zeros((len(sources), len(destinations)), dtype=np.uint8)
        si = {k: i for i, k in enumerate(sources)}
        di = {k: i for i, k in enumerate(destinations)}
        for (s, d), verdict in cells.items():
            codes[si[s], di[d]] = _NAMES_TO_CODE[verdict]
        reasons = {pair: (errors or {}).get(pair) or "the probe failed" for pair, v in cells.items() if v == "error"}
        return cls(list(sources), list(destinations), codes, probe, kind, backend, errors=reasons)

    # ------------------------------------------------------------------ access

    def __getitem__(self, pair: tuple[str, str]) -> str:
        src, dst = pair
        return CELL_NAMES[int(self.codes[self.sources.index(src), self.destinations.index(dst)])]

    def cells(self) -> Iterable[tuple[str, str, str]]:
        for i, s in enumerate(self.sources):
            for j, d in enumerate(self.destinations):
                yield s, d, CELL_NAMES[int(self.codes[i, j])]

    def to_frame(self):
        """DataFrame: rows = source ``ns/pod``, columns = destination, cells allow | drop | reject
        (| error, in a measured matrix: the probe failed for a reason that is not the policy's; the
        reasons are in ``errors``).

        Every column has the dtype :func:`verdict_dtype`, a pandas ``Categorical`` over
        ``["allow", "drop", "reject"]``: one byte a cell (10,000 x 10,000 pods = 100 MB), built
        without a per-cell Python string, and still equal to the strings
        (``frame.loc["x/a", "y/b"] == "drop"``, ``(frame == "allow").sum()``).
        ``frame.astype(str)`` gives plain object strings if a consumer needs them.
        """
        import pandas as pd

        dtype = verdict_dtype(errors=bool(self.errors))  # from_cells names every error cell
        codes = self.codes  # engine matrices are column-major already; measured ones are transposed here
        by_column = (codes.T if codes.T.flags.c_contiguous else transpose(codes)).view(np.int8)
        arrays = [pd.Categorical.from_codes(column, dtype=dtype, validate=False) for column in by_column]
        return frame_of_columns(arrays, pd.Index(self.sources, name="source"),
                                pd.Index(self.destinations, name="destination"))

    def verdict_names(self) -> np.ndarray:
        """The verdicts as an object array of ``"allow" | "drop" | "reject"`` (| ``"error"``), sources x
        destinations."""
        return np.array(CELL_NAMES, dtype=object)[self.codes]

    def to_long_frame(self):
        """One row per pair, with the deciding policy/rule on each side (when known)."""
        import pandas as pd

        rows = []
        for i, s in enumerate(self.sources):
            for j, d in enumerate(self.destinations):
                row = {"source": s, "destination": d, "verdict": CELL_NAMES[int(self.codes[i, j])]}
                if self.errors:
                    row["error"] = self.errors.get((s, d), "")
                if self.evaluation is not None:
                    exp = self.explain(s, d)
                    row.update(egress_action=exp.egress.action, egress_policy=exp.egress.to_dict()["policy"],
                               egress_rule=exp.egress.to_dict()["rule_name"], ingress_action=exp.ingress.action,
                               ingress_policy=exp.ingress.to_dict()["policy"],
                               ingress_rule=exp.ingress.to_dict()["rule_name"])
                rows.append(row)
        return pd.DataFrame(rows)

    def counts(self) -> dict[str, int]:
        """Cells per verdict; ``error`` is listed only when some cell is one."""
        out = {name: int((self.codes == code).sum()) for code, name in enumerate(VERDICT_NAMES)}
        if self.errors:  # only measured matrices have error cells, and from_cells names each one
            out["error"] = int((self.codes == ERROR).sum())
        return out

    def explain(self, src: str, dst: str) -> Explanation:
        if self.evaluation is None:
            raise ValueError("this matrix was measured, not computed: use lab.explain() for the engine's reason")
        i, j = self.sources.index(src), self.destinations.index(dst)
        (e_code, e_rule, e_pass), (i_code, i_rule, i_pass) = self.evaluation.cell(i, j)
        egress = decision_of("Egress", e_code, e_rule, e_pass, self.policy_set, src)
        if egress.action != "Allow":
            # Antrea's pipeline stops at the source's egress tables when they drop or reject: the
            # packet never reaches the destination's ingress tables, so no ingress rule decided
            # anything (Traceflow likewise reports no observation on the receiving Node).
            ingress = Decision("Ingress", "", NOT_REACHED)
        else:
            ingress = decision_of("Ingress", i_code, i_rule, i_pass, self.policy_set, dst)
        return Explanation(src, dst, self.probe, VERDICT_NAMES[int(self.codes[i, j])], egress, ingress)

    # ------------------------------------------------------------------ comparison and display

    def diff(self, other: "Reachability") -> list[tuple[str, str, str, str]]:
        """Cells that differ: (src, dst, this verdict, other verdict), over the pods both share."""
        out = []
        oi = {k: i for i, k in enumerate(other.sources)}
        oj = {k: j for j, k in enumerate(other.destinations)}
        for i, s in enumerate(self.sources):
            if s not in oi:
                continue
            for j, d in enumerate(self.destinations):
                if d in oj:
                    a, b = int(self.codes[i, j]), int(other.codes[oi[s], oj[d]])
                    if a != b:
                        out.append((s, d, CELL_NAMES[a], CELL_NAMES[b]))
        return out

    def same_as(self, other: "Reachability") -> bool:
        return (self.sources == other.sources and self.destinations == other.destinations
                and np.array_equal(self.codes, other.codes))

    def text(self) -> str:
        width = max([len(s) for s in self.sources + self.destinations] + [1])
        lines = [" " * width + " " + " ".join(d.rjust(width) for d in self.destinations)]
        for i, s in enumerate(self.sources):
            lines.append(s.ljust(width) + " " + " ".join(SYMBOLS[int(c)].rjust(width) for c in self.codes[i]))
        return "\n".join(lines)

    def __str__(self) -> str:
        c = self.counts()
        errors = "".join(f"\n  E {s} -> {d}: {why}" for (s, d), why in sorted(self.errors.items()))
        return (f"Reachability ({self.kind}, {self.backend}) {self.probe}: {c['allow']} allow, {c['drop']} drop, "
                f"{c['reject']} reject" + (f", {c['error']} error" if c.get("error") else "")
                + f"\n{self.text()}{errors}")

    def _repr_html_(self) -> str:
        # Okabe-Ito colour-blind safe palette: bluish green / vermillion / orange, plus a glyph.
        style = {0: ("#009E73", "✓"), 1: ("#D55E00", "✗"), 2: ("#E69F00", "⊘"), ERROR: ("#666666", "!")}
        head = "".join(f"<th style='writing-mode:vertical-rl'>{d}</th>" for d in self.destinations)
        body = []
        for i, s in enumerate(self.sources):
            tds = "".join(
                f"<td title='{s} → {d}: {CELL_NAMES[int(c)]}{_why(self.errors.get((s, d)))}' "
                f"style='background:{style[int(c)][0]};color:white;"
                f"text-align:center'>{style[int(c)][1]}</td>"
                for d, c in zip(self.destinations, self.codes[i]))
            body.append(f"<tr><th style='text-align:right'>{s}</th>{tds}</tr>")
        c = self.counts()
        caption = (f"{self.probe} ({self.kind}, {self.backend}): {c['allow']} allow, {c['drop']} drop, "
                   f"{c['reject']} reject" + (f", {c['error']} error (not the policy: hover a grey cell)"
                                              if c.get("error") else ""))
        # The caption sits above the table, not in a <caption>: a caption is as wide as the table,
        # so a matrix of two or three columns wrapped it over half a dozen lines.
        return (f"<div class='labkit-static-matrix'><div style='white-space:nowrap;margin-bottom:2px'>{caption}</div>"
                f"<table><tr><th></th>{head}</tr>{''.join(body)}</table></div>")


def _why(reason: str | None) -> str:
    import html

    return f" ({html.escape(reason, quote=True)})" if reason else ""

"""labkit's validation of Antrea's policy kinds against the CRD schemas of Antrea v2.7.0
(tests/data/antrea_crd_fields.yaml, written by scripts/antrea_crd_fields.py from
build/charts/antrea/crds/*.yaml; issue 12, item 5).

What the API server enforces from a structural schema, labkit must reject too, at the same field
path: unknown fields (kubectl's default strict field validation), wrong types, values outside an
enum or a minimum/maximum, missing required fields, patterns and the ``cidr`` format. Every field
the schema has must be known to labkit (fields labkit does not model are rejected with a message
saying so, never as unknown). Checked exhaustively over every field path for unknown fields and
with hypothesis for values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.model.objects import ANTREA_VERSIONS
from labkit.model.parse import parse_document
from labkit.model.yamlsrc import Document

EXCERPT = yaml.safe_load((Path(__file__).resolve().parents[2] / "data" / "antrea_crd_fields.yaml").read_text())
KINDS = EXCERPT["kinds"]
BASES: dict[str, dict] = {
    "ClusterNetworkPolicy": {"metadata": {"name": "p"}, "spec": {"priority": 1, "appliedTo": [{"podSelector": {}}]}},
    "NetworkPolicy": {"metadata": {"name": "p", "namespace": "x"},
                      "spec": {"priority": 1, "appliedTo": [{"podSelector": {}}]}},
    "ClusterGroup": {"metadata": {"name": "g"}, "spec": {}},
    "Group": {"metadata": {"name": "g", "namespace": "x"}, "spec": {}},
    "Tier": {"metadata": {"name": "t"}, "spec": {"priority": 10}},
}
# Every property name any of the schemas uses, plus the legacy/misplaced ones people write.
VOCABULARY = sorted({name for kind in KINDS.values() for entry in kind["fields"].values()
                     for name in entry.get("properties", ())} | {"ipBlock", "scope", "fqdn", "from", "to"})


def parse(kind: str, data: dict) -> list:
    doc = {"apiVersion": "crd.antrea.io/v1beta1", "kind": kind, **data}
    _, problems = parse_document(Document(doc))
    return problems


def concrete(path: str) -> list[str | int]:
    """``spec.ingress[].from[].ipBlock`` -> ['spec', 'ingress', 0, 'from', 0, 'ipBlock']."""
    out: list[str | int] = []
    for part in path.split("."):
        while part.endswith("[]"):
            part = part[:-2]
            out.append(part)
            out.append(0)
            part = ""
        if part:
            out.append(part)
    return [p for p in out if p != ""]


def text_path(parts: list[str | int]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


def place(kind: str, path: str, value: Any) -> dict:
    """The kind's base document with ``value`` at ``path`` (containers created on the way)."""
    import copy

    doc = copy.deepcopy(BASES[kind])
    parts = concrete(path)
    node: Any = doc
    for here, nxt in zip(parts, parts[1:]):
        if isinstance(here, int):
            while len(node) <= here:
                node.append({} if not isinstance(nxt, int) else [])
            node = node[here]
        else:
            if here not in node or not isinstance(node[here], (dict, list)):
                node[here] = [] if isinstance(nxt, int) else {}
            node = node[here]
    last = parts[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append(None)
    node[last] = value
    return doc


def rejected_at(problems: list, path: str) -> bool:
    """A problem at ``path`` itself, or at a not-modelled field above it."""
    for p in problems:
        if p.path == path:
            return True
        if path.startswith(p.path + ".") or path.startswith(p.path + "["):
            if "not modelled" in p.message or "unknown field" in p.message:
                return True
    return False


def object_paths(kind: str) -> list[str]:
    return [path for path, entry in KINDS[kind]["fields"].items() if "properties" in entry]


def sample(entry: dict, path: str) -> Any:
    """A value the schema accepts at a leaf (and labkit's semantics too, where it is known)."""
    if "enum" in entry:
        return entry["enum"][0]
    leaf = path.rsplit(".", 1)[-1]
    kind = entry.get("type")
    if entry.get("format") == "cidr":
        return "10.0.0.0/24"
    if entry.get("intOrString"):
        return 80
    if kind == "integer":
        return max(entry.get("minimum", 1), 1)
    if kind == "number":
        return 5
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {}
    return {"key": "app", "fqdn": "a.example.com"}.get(leaf, "a")


def test_served_versions_match():
    for kind, data in KINDS.items():
        assert tuple(data["versions"]) == ANTREA_VERSIONS, kind
        problems = parse(kind, {**BASES[kind], "apiVersion": "crd.antrea.io/v1alpha1"})
        assert any(p.path == "apiVersion" and "v1beta1" in p.hint for p in problems), kind


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_schema_field_is_known(kind):
    """No field of the schema is reported as unknown (labkit may refuse to model it)."""
    for path, entry in KINDS[kind]["fields"].items():
        if path.endswith("{}") or path == "spec":
            continue
        problems = parse(kind, place(kind, path, sample(entry, path)))
        unknown = [p for p in problems if "unknown field" in p.message]
        assert not unknown, (kind, path, [str(p) for p in unknown])


@pytest.mark.parametrize("kind", list(KINDS))
def test_fields_outside_the_schema_are_rejected_where_they_are(kind):
    """Every property name Antrea uses anywhere, placed where this schema does not have it, is
    rejected at that path (strict field validation), exhaustively over the schema's objects."""
    fields = KINDS[kind]["fields"]
    for path in object_paths(kind):
        allowed = set(fields[path]["properties"])
        for name in VOCABULARY + ["zzUnknown"]:
            if name in allowed:
                continue
            target = f"{path}.{name}"
            problems = parse(kind, place(kind, target, {}))
            assert rejected_at(problems, text_path(concrete(target))), (kind, target, [str(p) for p in problems])


def leaves(kind: str, want) -> list[tuple[str, dict]]:
    return [(p, e) for p, e in KINDS[kind]["fields"].items() if want(e) and not p.endswith("{}")]


VALUE_CHECKS = [(kind, path, entry) for kind in KINDS for path, entry in
                leaves(kind, lambda e: "enum" in e or "minimum" in e or "maximum" in e or "pattern" in e
                       or e.get("format") == "cidr" or e.get("type") in ("string", "integer", "number", "boolean"))]


@settings(max_examples=400, deadline=None)
@given(check=st.sampled_from(VALUE_CHECKS), data=st.data())
def test_values_the_schema_rejects_are_rejected_at_their_path(check, data):
    kind, path, entry = check
    bad: list[Any] = [["a", "list"], {"a": "map"}]  # never a scalar's type
    if entry.get("type") == "string" and not entry.get("intOrString"):
        bad.append(7)
    if entry.get("type") in ("integer", "number", "boolean"):
        bad.append("text")
    if entry.get("type") == "integer":
        bad.append(1.5)
    if "enum" in entry:
        bad.append("NotInTheEnum" if entry.get("type") == "string" else 99)
    if "minimum" in entry:
        bad.append(entry["minimum"] - (1 if entry.get("type") == "integer" else 0.5))
    if "maximum" in entry:
        bad.append(entry["maximum"] + 1)
    if "pattern" in entry:
        bad.append("-bad value!")
    if entry.get("format") == "cidr":
        bad += ["10.0.0.1", "10.0.0.0/33", "not-a-cidr"]
    value = data.draw(st.sampled_from(bad))
    target = text_path(concrete(path))
    problems = parse(kind, place(kind, path, value))
    assert rejected_at(problems, target), (kind, target, value, [str(p) for p in problems])


REQUIRED = [(kind, path, name) for kind in KINDS for path, entry in KINDS[kind]["fields"].items()
            for name in entry.get("required", ())]


@pytest.mark.parametrize("kind,path,name", REQUIRED, ids=[f"{k}:{p}.{n}" for k, p, n in REQUIRED])
def test_required_fields(kind, path, name):
    """An object without a field its schema requires is rejected (at the field or the object)."""
    fields = KINDS[kind]["fields"]
    obj = {other: sample(fields[f"{path}.{other}"], f"{path}.{other}")
           for other in fields[path].get("required", ()) if other != name}
    if path == "spec":
        doc = {**BASES[kind], "spec": {k: v for k, v in BASES[kind]["spec"].items() if k != name}}
    else:
        doc = place(kind, path, obj)
    problems = parse(kind, doc)
    target = text_path(concrete(path))
    assert rejected_at(problems, f"{target}.{name}") or rejected_at(problems, target), \
        (kind, path, name, [str(p) for p in problems])


def test_one_of_icmp_or_igmp():
    for protocols in ([{}], [{"icmp": {}, "igmp": {}}]):
        problems = parse("ClusterNetworkPolicy", place("ClusterNetworkPolicy", "spec.ingress[]",
                                                       {"action": "Allow", "protocols": protocols}))
        assert rejected_at(problems, "spec.ingress[0].protocols[0]")

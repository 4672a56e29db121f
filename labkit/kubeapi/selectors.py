"""``labelSelector`` and ``fieldSelector`` query parameters, parsed as kube-apiserver parses them.

Label selectors (apimachinery ``pkg/labels/selector.go`` ``Parse``): ``k=v``, ``k==v``, ``k!=v``,
``k in (a,b)``, ``k notin (a,b)``, ``k`` (exists), ``!k`` (does not exist), comma-separated and
ANDed. They become :class:`labkit.model.selectors.Requirement`, so matching is the model's own.

Field selectors (``pkg/fields/selector.go``): ``f=v``, ``f==v``, ``f!=v``; each kind supports a
fixed set of fields (``metadata.name`` and ``metadata.namespace`` everywhere; Pods also
``spec.nodeName``, ``status.phase`` ... as ``pkg/registry/core/pod/strategy.go`` ``ToSelectableFields``;
Events ``involvedObject.*``, ``reason``, ``type``). Anything else is a 400, as upstream answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..model.selectors import Requirement, label_key_error, label_value_error
from .errors import bad_request
from .resources import Resource

_TOKEN = re.compile(r"\s*(!=|==|=|\(|\)|,|!|[^\s!=(),]+)")

FIELDS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
            "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName"),
    "Node": ("spec.unschedulable",),
    "Namespace": ("status.phase",),
    "Service": ("spec.clusterIP", "spec.type"),
    "Event": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
              "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
              "reportingComponent", "source", "type"),
    "Deployment": ("status.replicas",),
    "EndpointSlice": ("addressType",),
}


def parse_label_selector(text: str) -> list[Requirement]:
    tokens = [t for t in _TOKEN.findall(text or "")]
    out: list[Requirement] = []
    i = 0

    def fail(why: str) -> Exception:
        return bad_request(f"unable to parse requirement: {why} (labelSelector {text!r}; syntax: key=value, "
                           "key!=value, key in (a,b), key notin (a,b), key, !key)")

    while i < len(tokens):
        negate = tokens[i] == "!"
        if negate:
            i += 1
        if i >= len(tokens):
            raise fail("a key is missing")
        key = tokens[i]
        if key in ("=", "==", "!=", "(", ")", ","):
            raise fail(f"found {key!r}, expected a key")
        if (problem := label_key_error(key)):
            raise fail(problem)
        i += 1
        op = tokens[i] if i < len(tokens) else ","
        if negate:
            if op != ",":
                raise fail("'!' is only allowed before a key alone")
            out.append(Requirement(key, "DoesNotExist", ()))
        elif op == ",":
            out.append(Requirement(key, "Exists", ()))
        elif op in ("=", "==", "!="):
            i += 1
            value = tokens[i] if i < len(tokens) and tokens[i] not in (",", "(", ")") else ""
            if value:
                i += 1
            if (problem := label_value_error(value)):
                raise fail(problem)
            out.append(Requirement(key, "NotIn" if op == "!=" else "In", (value,)))
        elif op in ("in", "notin"):
            i += 1
            if i >= len(tokens) or tokens[i] != "(":
                raise fail(f"expected '(' after {op}")
            i += 1
            values: list[str] = []
            while i < len(tokens) and tokens[i] != ")":
                if tokens[i] != ",":
                    values.append(tokens[i])
                i += 1
            if i >= len(tokens):
                raise fail("expected ')'")
            i += 1
            out.append(Requirement(key, "In" if op == "in" else "NotIn", tuple(values)))
        else:
            raise fail(f"unknown operator {op!r}")
        if i < len(tokens):
            if tokens[i] != ",":
                raise fail(f"expected ',' before {tokens[i]!r}")
            i += 1
    return out


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    value: str
    equal: bool


def parse_field_selector(text: str, resource: Resource) -> list[FieldRequirement]:
    out = []
    allowed = ("metadata.name", "metadata.namespace") + FIELDS.get(resource.kind, ())
    for part in (p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        m = re.match(r"^([^!=]+)(!=|==|=)(.*)$", part)
        if not m:
            raise bad_request(f"invalid selector: {part!r}; expected field=value or field!=value")
        field, op, value = m.group(1).strip(), m.group(2), m.group(3).strip()
        if field not in allowed:
            raise bad_request(f'"{field}" is not a known field selector: only '
                              + ", ".join(f'"{a}"' for a in allowed))
        out.append(FieldRequirement(field, value, op != "!="))
    return out


def _lookup(obj: dict, path: str) -> Any:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def matches(obj: dict, labels: list[Requirement], fields: list[FieldRequirement]) -> bool:
    meta = obj.get("metadata") or {}
    if labels:
        have = meta.get("labels") or {}
        if not all(r.matches(have) for r in labels):
            return False
    for f in fields:
        value = _lookup(obj, f.field)
        text = "" if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
        if (text == f.value) != f.equal:
            return False
    return True

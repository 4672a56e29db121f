"""Kubernetes label selectors (metav1.LabelSelector) and label validation.

Semantics reproduced from apimachinery's ``LabelSelectorAsSelector``: ``matchLabels`` and
``matchExpressions`` are ANDed; an empty selector ``{}`` selects everything; operators are
``In``, ``NotIn``, ``Exists``, ``DoesNotExist``; ``NotIn`` and ``DoesNotExist`` also select objects
that lack the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")

# apimachinery validation: qualified name = [prefix/]name, name <= 63 chars of [A-Za-z0-9-_.]
# starting and ending alphanumeric; prefix a DNS-1123 subdomain (<= 253 chars).
_NAME_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_DNS1123_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def label_key_error(key: object) -> str | None:
    """Why ``key`` is not a valid label key, or None when it is."""
    if not isinstance(key, str) or not key:
        return "label key must be a non-empty string"
    return _label_key_error(key)


@lru_cache(maxsize=8192)  # a cluster's pods repeat a few label keys and values many times
def _label_key_error(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if "/" in key:
        if not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN_RE.match(prefix):
            return f"label key {key!r}: prefix must be a lowercase DNS subdomain (e.g. 'example.com')"
    if not name or len(name) > 63 or not _NAME_RE.match(name):
        return (
            f"label key {key!r}: name part must be at most 63 characters of letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit"
        )
    return None


def label_value_error(value: object) -> str | None:
    if not isinstance(value, str):
        return f"label value {value!r} must be a string (quote it in YAML)"
    return _label_value_error(value)


@lru_cache(maxsize=8192)
def _label_value_error(value: str) -> str | None:
    if len(value) > 63 or not _LABEL_VALUE_RE.match(value):
        return (
            f"label value {value!r} must be at most 63 characters of letters, digits, '-', '_' "
            "or '.', starting and ending with a letter or digit (or empty)"
        )
    return None


def dns1123_label_error(name: object, what: str = "name") -> str | None:
    if not isinstance(name, str) or not name:
        return f"{what} is required"
    if len(name) > 63 or not _DNS1123_LABEL_RE.match(name):
        return (
            f"{what} {name!r} must be a lowercase RFC 1123 label: at most 63 characters of "
            "a-z, 0-9 and '-', starting and ending with a letter or digit"
        )
    return None


def dns1123_subdomain_error(name: object, what: str = "name") -> str | None:
    if not isinstance(name, str) or not name:
        return f"{what} is required"
    if len(name) > 253 or not _DNS1123_SUBDOMAIN_RE.match(name):
        return (
            f"{what} {name!r} must be a lowercase RFC 1123 subdomain: a-z, 0-9, '-' and '.', "
            "starting and ending with a letter or digit"
        )
    return None


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels  # DoesNotExist

    def to_dict(self) -> dict:
        out: dict = {"key": self.key, "operator": self.operator}
        if self.values:
            out["values"] = list(self.values)
        return out


@dataclass(frozen=True)
class LabelSelector:
    """An immutable metav1.LabelSelector. ``LabelSelector()`` is the empty selector: it selects all."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()

    @classmethod
    def of(cls, labels: Mapping[str, str] | None = None, *exprs: Requirement) -> "LabelSelector":
        return cls(tuple(sorted((labels or {}).items())), tuple(exprs))

    @property
    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions

    def matches(self, labels: Mapping[str, str]) -> bool:
        for key, value in self.match_labels:
            if labels.get(key) != value:
                return False
        return all(req.matches(labels) for req in self.match_expressions)

    def to_dict(self) -> dict:
        out: dict = {}
        if self.match_labels:
            out["matchLabels"] = dict(self.match_labels)
        if self.match_expressions:
            out["matchExpressions"] = [r.to_dict() for r in self.match_expressions]
        return out

    def __str__(self) -> str:
        """kubectl's selector syntax: ``app=web,tier in (a,b),!legacy``; ``<all>`` when empty."""
        parts = [f"{k}={v}" for k, v in self.match_labels]
        for r in self.match_expressions:
            if r.operator == "In":
                parts.append(f"{r.key} in ({','.join(r.values)})")
            elif r.operator == "NotIn":
                parts.append(f"{r.key} notin ({','.join(r.values)})")
            elif r.operator == "Exists":
                parts.append(r.key)
            else:
                parts.append(f"!{r.key}")
        return ",".join(parts) if parts else "<all>"


# The label Kubernetes (>= 1.21) puts on every Namespace with its name; Antrea's docs select
# Namespaces by name with it.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

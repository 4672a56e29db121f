"""NIC profiles as data (``topologies/smartnic.yaml``): what an eSwitch or a DPU can offload.

A profile is what :mod:`labkit.smartnic.offload` consults to decide, flow by flow, whether a
datapath flow can live on the NIC. Its lists follow OVS's TC flower offload
(``lib/netdev-offload-tc.c``: ``netdev_tc_flow_put`` refuses any other action with EOPNOTSUPP)
and Antrea's docs/ovs-offload.md; its capacities and rates are lab-scaled teaching values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ManifestError, NotFoundError, Problem
from ..model.manifest import project_root
from ..model.yamlsrc import Document, load_documents

KINDS = ("eswitch", "dpu", "none")
SWITCH_LOCATIONS = ("host", "dpu-arm")
TOPOLOGY_API = "labkit.io/v1alpha1"


@dataclass(frozen=True)
class NicProfile:
    name: str
    description: str
    kind: str  # eswitch | dpu | none
    switch_runs_on: str  # host | dpu-arm: where ovs-vswitchd, the slow path and the flow tables' owner live
    offload_path: str
    matches: frozenset[str]
    ct_state_flags: frozenset[str]
    actions: frozenset[str]
    unsupported_actions: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    ct_helpers: bool = False
    ct_nat: bool = False
    flow_capacity: int = 0
    ct_capacity: int = 0
    setup_packets_in_software: int = 0
    insertion_rate_per_s: int = 0
    software_pps_per_core: int = 1_000_000
    line_rate_gbps: int = 25

    @property
    def offloads(self) -> bool:
        return self.kind != "none" and self.flow_capacity > 0

    @property
    def isolated_from_host(self) -> bool:
        """True when the switch (and so the policy flows) is out of the host OS's reach."""
        return self.switch_runs_on == "dpu-arm"

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "switch runs on": self.switch_runs_on,
                "flow capacity": self.flow_capacity, "ct capacity": self.ct_capacity,
                "setup packets in software": self.setup_packets_in_software,
                "unsupported actions": ", ".join(sorted(self.unsupported_actions)) or "-",
                "description": self.description}


_FIELDS = {  # YAML key -> (attribute, type)
    "description": ("description", str), "kind": ("kind", str), "switchRunsOn": ("switch_runs_on", str),
    "offloadPath": ("offload_path", str), "matches": ("matches", list), "ctStateFlags": ("ct_state_flags", list),
    "actions": ("actions", list), "unsupportedActions": ("unsupported_actions", dict),
    "ctHelpers": ("ct_helpers", bool), "ctNat": ("ct_nat", bool), "flowCapacity": ("flow_capacity", int),
    "ctCapacity": ("ct_capacity", int), "setupPacketsInSoftware": ("setup_packets_in_software", int),
    "insertionRatePerS": ("insertion_rate_per_s", int), "softwarePpsPerCore": ("software_pps_per_core", int),
    "lineRateGbps": ("line_rate_gbps", int),
}


def default_topology_path() -> Path:
    return project_root() / "topologies" / "smartnic.yaml"


def _problem(doc: Document, path: str, message: str, hint: str = "") -> Problem:
    return Problem(message, path, "Topology", "smartnic", source=doc.source, line=doc.line_of(path),
                   document=doc.index, hint=hint)


def parse_profiles(doc: Document) -> dict[str, NicProfile]:
    """Profiles of one ``Topology`` document; every problem is reported at once (ManifestError)."""
    data = doc.data if isinstance(doc.data, dict) else {}
    problems: list[Problem] = []
    if data.get("apiVersion") != TOPOLOGY_API or data.get("kind") != "Topology":
        problems.append(_problem(doc, "kind", f"expected apiVersion {TOPOLOGY_API}, kind Topology"))
    items = (data.get("spec") or {}).get("nicProfiles")
    if not isinstance(items, list) or not items:
        problems.append(_problem(doc, "spec.nicProfiles", "no NIC profiles",
                                 "list at least one under spec.nicProfiles"))
        raise ManifestError(problems, action="validate")
    profiles: dict[str, NicProfile] = {}
    for i, item in enumerate(items):
        base = f"spec.nicProfiles[{i}]"
        if not isinstance(item, dict) or not item.get("name"):
            problems.append(_problem(doc, base, "a NIC profile needs a name"))
            continue
        kwargs: dict[str, Any] = {"name": item["name"]}
        for key, value in item.items():
            if key == "name":
                continue
            if key not in _FIELDS:
                problems.append(_problem(doc, f"{base}.{key}", f"unknown field {key!r}",
                                         f"known fields: {', '.join(sorted(_FIELDS))}"))
                continue
            attr, kind = _FIELDS[key]
            if kind is int and isinstance(value, bool) or not isinstance(value, kind):
                problems.append(_problem(doc, f"{base}.{key}", f"must be {kind.__name__}, not {type(value).__name__}"))
                continue
            kwargs[attr] = frozenset(value) if kind is list else value
        if kwargs.get("kind", "eswitch") not in KINDS:
            problems.append(_problem(doc, f"{base}.kind",
                                     f"kind {kwargs.get('kind')!r} is not one of {', '.join(KINDS)}"))
        if kwargs.get("switch_runs_on", "host") not in SWITCH_LOCATIONS:
            problems.append(_problem(doc, f"{base}.switchRunsOn",
                                     f"{kwargs.get('switch_runs_on')!r} is not one of {', '.join(SWITCH_LOCATIONS)}"))
        missing = [k for k, (attr, _) in _FIELDS.items() if attr not in kwargs and k in (
            "description", "kind", "switchRunsOn", "offloadPath", "matches", "ctStateFlags", "actions")]
        if missing:
            problems.append(_problem(doc, base, f"profile {item['name']!r} lacks {', '.join(missing)}"))
        if item["name"] in profiles:
            problems.append(_problem(doc, f"{base}.name", f"duplicate profile name {item['name']!r}"))
        if not problems:
            profiles[item["name"]] = NicProfile(**kwargs)
    if problems:
        raise ManifestError(problems, action="validate")
    return profiles


def load_profiles(path: str | os.PathLike | None = None) -> dict[str, NicProfile]:
    """NIC profiles from ``topologies/smartnic.yaml`` (or ``path``), by name."""
    path = Path(path) if path else default_topology_path()
    docs = load_documents(path.read_text(), source=str(path))
    if len(docs) != 1:
        raise ManifestError(Problem(f"expected one Topology document, found {len(docs)}", source=str(path)),
                            action="validate")
    return parse_profiles(docs[0])


def get_profile(name: str, path: str | os.PathLike | None = None) -> NicProfile:
    profiles = load_profiles(path)
    if name not in profiles:
        raise NotFoundError(f"no NIC profile {name!r}; available: {', '.join(profiles)}")
    return profiles[name]


def profiles_table(path: str | os.PathLike | None = None):
    """The profiles side by side (a DataFrame)."""
    import pandas as pd

    return pd.DataFrame([p.summary() for p in load_profiles(path).values()]).set_index("name")


__all__ = ["KINDS", "NicProfile", "get_profile", "load_profiles", "parse_profiles", "profiles_table"]

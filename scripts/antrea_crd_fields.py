"""Write the field excerpt of Antrea's policy CRD schemas that tests/unit/model/test_crd_schema.py
checks labkit's manifest validation against.

Usage: python scripts/antrea_crd_fields.py ANTREA_GIT_DIR TAG > tests/data/antrea_crd_fields.yaml

ANTREA_GIT_DIR is a clone of https://github.com/antrea-io/antrea (a bare one will do); the CRDs are
read from build/charts/antrea/crds/ at TAG with ``git show``. Each CRD's served version's
``openAPIV3Schema`` is flattened to one entry per field path (``spec.ingress[].from[].ipBlock.cidr``)
holding what the API server validates there: type, properties, required, enum, minimum/maximum,
pattern, format, int-or-string, oneOf-required. ``status`` is left out (the controller writes it).
"""

from __future__ import annotations

import subprocess
import sys

import yaml

CRDS = {"ClusterNetworkPolicy": "clusternetworkpolicy", "NetworkPolicy": "networkpolicy",
        "ClusterGroup": "clustergroup", "Group": "group", "Tier": "tier"}
KEEP = ("type", "enum", "minimum", "maximum", "pattern", "format", "required")


def flatten(node: dict, path: str, out: dict) -> None:
    entry = {k: node[k] for k in KEEP if k in node}
    if node.get("x-kubernetes-int-or-string"):
        entry["intOrString"] = True
    if "oneOf" in node:
        if all(set(alt) == {"required"} for alt in node["oneOf"]):
            entry["oneOfRequired"] = [alt["required"] for alt in node["oneOf"]]
        elif all(set(alt) == {"format"} for alt in node["oneOf"]):
            entry["oneOfFormat"] = [alt["format"] for alt in node["oneOf"]]
    if "properties" in node:
        entry["properties"] = list(node["properties"])
    if isinstance(node.get("additionalProperties"), dict):
        entry["additionalProperties"] = True
    out[path] = entry
    for key, child in (node.get("properties") or {}).items():
        flatten(child, f"{path}.{key}", out)
    if "items" in node:
        flatten(node["items"], f"{path}[]", out)
    if isinstance(node.get("additionalProperties"), dict):
        flatten(node["additionalProperties"], f"{path}{{}}", out)


def main(git_dir: str, tag: str) -> None:
    commit = subprocess.run(["git", "-C", git_dir, "rev-parse", f"{tag}^{{commit}}"], capture_output=True,
                            text=True, check=True).stdout.strip()
    kinds: dict = {}
    for kind, stem in CRDS.items():
        text = subprocess.run(["git", "-C", git_dir, "show", f"{tag}:build/charts/antrea/crds/{stem}.yaml"],
                              capture_output=True, text=True, check=True).stdout
        crd = yaml.safe_load(text)
        served = [v for v in crd["spec"]["versions"] if v.get("served")]
        fields: dict = {}
        schema = served[0]["schema"]["openAPIV3Schema"]
        flatten(schema["properties"]["spec"], "spec", fields)
        kinds[kind] = {"versions": [v["name"] for v in served], "fields": fields}
    header = {"source": f"antrea-io/antrea {tag} (commit {commit}), build/charts/antrea/crds/"
                        "{clusternetworkpolicy,networkpolicy,clustergroup,group,tier}.yaml",
              "generator": "scripts/antrea_crd_fields.py"}
    yaml.safe_dump({**header, "kinds": kinds}, sys.stdout, sort_keys=False, width=120, default_flow_style=None)


if __name__ == "__main__":
    main(*sys.argv[1:3])

"""The four PATCH flavours kube-apiserver accepts, on plain JSON documents.

* ``application/merge-patch+json``: RFC 7386 JSON merge patch (``kubectl label``, client-side
  ``kubectl apply`` of every CRD, ``CustomObjectsApi.patch_*``).
* ``application/json-patch+json``: RFC 6902 JSON patch, applied by the ``jsonpatch`` library;
  at most 10000 operations (apiserver ``handlers/patch.go`` ``maxJSONPatchOperations``).
* ``application/strategic-merge-patch+json``: Kubernetes' strategic merge patch for built-in
  kinds (apimachinery ``pkg/util/strategicpatch/patch.go``): lists with a ``patchMergeKey`` merge
  element-wise, ``$patch: replace|delete|merge``, ``$setElementOrder/<field>``,
  ``$deleteFromPrimitiveList/<field>``, ``$retainKeys``; every other list is replaced. The merge
  keys are the ``patchStrategy``/``patchMergeKey`` struct tags of ``k8s.io/api`` (reference
  kubectl-api.md §4.4). kube-apiserver refuses it for custom resources (415), and so do we.
* ``application/apply-patch+yaml``: server-side apply (:func:`apply_merge`): the applied
  configuration is merged into the live object with the same list semantics (associative lists by
  their keys, CRD lists atomic) and the fields the same field manager applied last time and has
  now dropped are removed, as field ownership does in ``sigs.k8s.io/structured-merge-diff``.
  Conflicts between managers are not tracked (a documented simplification, docs/kubectl.md).
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import StatusError, bad_request

MAX_JSON_PATCH_OPERATIONS = 10000
_DELETE = object()

# (kind, field path without list indices) -> merge key; "" = a list of primitives merged as a set.
_POD_SPEC = {("containers",): "name", ("initContainers",): "name", ("ephemeralContainers",): "name",
             ("volumes",): "name", ("imagePullSecrets",): "name", ("hostAliases",): "ip",
             ("topologySpreadConstraints",): "topologyKey", ("schedulingGates",): "name",
             ("resourceClaims",): "name"}
_CONTAINER = {("ports",): "containerPort", ("env",): "name", ("volumeMounts",): "mountPath",
              ("volumeDevices",): "devicePath"}
_METADATA = {("metadata", "ownerReferences"): "uid", ("metadata", "finalizers"): ""}


def _pod_spec_keys(prefix: tuple[str, ...]) -> dict[tuple[str, ...], str]:
    keys = {prefix + k: v for k, v in _POD_SPEC.items()}
    for containers in ("containers", "initContainers", "ephemeralContainers"):
        keys.update({prefix + (containers,) + k: v for k, v in _CONTAINER.items()})
    return keys


MERGE_KEYS: dict[str, dict[tuple[str, ...], str]] = {
    "Pod": {**_pod_spec_keys(("spec",)), ("status", "conditions"): "type", ("status", "podIPs"): "ip",
            ("status", "hostIPs"): "ip"},
    "Deployment": {**_pod_spec_keys(("spec", "template", "spec")), ("status", "conditions"): "type"},
    "Service": {("spec", "ports"): "port", ("status", "conditions"): "type"},
    "Node": {("spec", "podCIDRs"): "", ("status", "conditions"): "type", ("status", "addresses"): "type"},
    "Namespace": {("status", "conditions"): "type"},
}


def merge_key(kind: str, path: tuple[str, ...]) -> str | None:
    """The merge key of the list at ``path`` of a ``kind`` ('' for a set of primitives), or None
    when the list is replaced wholesale."""
    if path in _METADATA:
        return _METADATA[path]
    return MERGE_KEYS.get(kind, {}).get(path)


# ---------------------------------------------------------------------------- RFC 7386


def json_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 section 2 (MergePatch), iteratively safe for the depths we admit."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


# ---------------------------------------------------------------------------- RFC 6902


def json_patch(target: Any, operations: Any) -> Any:
    import jsonpatch
    import jsonpointer

    if not isinstance(operations, list):
        raise bad_request("json patch must be a list of operations (RFC 6902), e.g. "
                          '[{"op": "replace", "path": "/metadata/labels/app", "value": "web"}]')
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        raise StatusError(422, "Invalid", f"The allowed maximum operations in a JSON patch is "
                                          f"{MAX_JSON_PATCH_OPERATIONS}, got {len(operations)}")
    try:
        patch = jsonpatch.JsonPatch(operations)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, KeyError) as exc:
        raise bad_request(f"invalid json patch: {exc}") from exc
    try:
        return patch.apply(target)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, KeyError,
            IndexError, ValueError, AttributeError) as exc:
        raise StatusError(422, "Invalid", f"the json patch could not be applied: {exc}") from exc


# ---------------------------------------------------------------------------- strategic merge


def strategic_merge_patch(kind: str, original: dict, patch: Any) -> dict:
    if not isinstance(patch, dict):
        raise bad_request("a strategic merge patch must be a JSON object")
    merged = _smp_map(kind, original, patch, ())
    return merged if isinstance(merged, dict) else {}


def _strip(value: Any) -> Any:
    """A patch value with every directive key removed (what gets stored)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not str(k).startswith("$")}
    if isinstance(value, list):
        return [_strip(v) for v in value if not (isinstance(v, dict) and v.get("$patch") == "delete")]
    return value


def _smp_map(kind: str, original: Any, patch: dict, path: tuple[str, ...]) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return _strip(patch)
    if directive not in (None, "merge"):
        raise bad_request(f"unknown patch directive $patch: {directive!r} at {'.'.join(path) or '<root>'}; "
                          "use replace, delete or merge")
    result = dict(original) if isinstance(original, dict) else {}
    orders: dict[str, list] = {}
    removals: dict[str, list] = {}
    for key, value in patch.items():
        key = str(key)
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value if isinstance(value, list) else []
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            removals[key.split("/", 1)[1]] = value if isinstance(value, list) else []
            continue
        if key.startswith("$"):
            continue
        child = path + (key,)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = _smp_map(kind, result.get(key), value, child)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _smp_list(kind, result.get(key), value, child)
        else:
            result[key] = value
    for key, values in removals.items():
        if isinstance(result.get(key), list):
            result[key] = [v for v in result[key] if v not in values]
    for key, order in orders.items():
        if isinstance(result.get(key), list):
            result[key] = _reorder(result[key], order, merge_key(kind, path + (key,)))
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):  # sent by clients only where the field has patchStrategy retainKeys
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _smp_list(kind: str, original: Any, patch: list, path: tuple[str, ...]) -> list:
    key = merge_key(kind, path)
    if key is None or not isinstance(original, list):
        if key == "":  # a set of primitives: union
            return list(dict.fromkeys([*(original or []), *patch])) if isinstance(original, list) else list(patch)
        return [_strip(v) for v in patch if not (isinstance(v, dict) and v.get("$patch") == "delete")]
    if key == "":
        return list(dict.fromkeys([*original, *patch]))
    if any(isinstance(v, dict) and v.get("$patch") == "replace" for v in patch):
        return [_strip(v) for v in patch if not (isinstance(v, dict) and v.get("$patch") == "replace")]
    result = [copy.deepcopy(v) for v in original]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise bad_request(f"{'.'.join(path)}: every element of this list needs its merge key {key!r}")
        index = next((i for i, v in enumerate(result) if isinstance(v, dict) and v.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
            continue
        if index is None:
            result.append(_strip(item))
        else:
            merged = _smp_map(kind, result[index], item, path)
            result[index] = merged if merged is not _DELETE else result[index]
    return result


def _reorder(items: list, order: list, key: str | None) -> list:
    if key:
        wanted = [o.get(key) for o in order if isinstance(o, dict)]
        pos = {v: i for i, v in enumerate(wanted)}
        ranked = [(pos.get(v.get(key) if isinstance(v, dict) else None, len(pos) + i), v) for i, v in enumerate(items)]
    else:
        pos = {repr(v): i for i, v in enumerate(order)}
        ranked = [(pos.get(repr(v), len(pos) + i), v) for i, v in enumerate(items)]
    return [v for _, v in sorted(ranked, key=lambda t: t[0])]


# ---------------------------------------------------------------------------- server-side apply


def apply_merge(kind: str, live: dict, applied: dict, previous: dict | None, keep: list[dict]) -> dict:
    """Server-side apply of one manager's configuration ``applied`` to ``live``.

    ``previous``: what this manager applied last time (fields it owned); fields in ``previous``
    but not in ``applied`` are removed unless another manager's configuration in ``keep`` sets
    them. Lists: associative (merge key) lists merge element-wise, others are atomic.
    """
    merged = _apply_map(kind, live, applied, ())
    if previous:
        others: set = set()
        for config in keep:
            others |= field_paths(kind, config)
        for gone in sorted(field_paths(kind, previous) - field_paths(kind, applied) - others,
                           key=len, reverse=True):
            _remove_path(merged, gone)
    return merged


def _apply_map(kind: str, live: Any, applied: dict, path: tuple[str, ...]) -> dict:
    result = dict(live) if isinstance(live, dict) else {}
    for key, value in applied.items():
        child = path + (str(key),)
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _apply_map(kind, result[key], value, child)
        elif isinstance(value, list) and isinstance(result.get(key), list) and merge_key(kind, child):
            mk = merge_key(kind, child)
            items = [copy.deepcopy(v) for v in result[key]]
            for item in value:
                index = next((i for i, v in enumerate(items) if isinstance(v, dict) and isinstance(item, dict)
                              and v.get(mk) == item.get(mk)), None)
                if index is None:
                    items.append(copy.deepcopy(item))
                else:
                    items[index] = _apply_map(kind, items[index], item, child)
            result[key] = items
        else:
            result[key] = copy.deepcopy(value)
    return result


def field_paths(kind: str, config: Any, path: tuple = ()) -> set:
    """The fields a configuration sets: map keys, associative-list elements by key, atomic leaves."""
    out: set = set()
    if isinstance(config, dict):
        for key, value in config.items():
            child = path + (str(key),)
            out.add(child)
            out |= field_paths(kind, value, child)
    elif isinstance(config, list):
        names = tuple(p for p in path if not isinstance(p, tuple))
        mk = merge_key(kind, names)
        if mk:
            for item in config:
                if isinstance(item, dict) and mk in item:
                    element = path + ((mk, repr(item[mk])),)
                    out.add(element)
                    out |= field_paths(kind, item, element)
    return out


def _remove_path(obj: Any, path: tuple) -> None:
    for i, step in enumerate(path):
        last = i == len(path) - 1
        if isinstance(step, tuple):  # an associative-list element (key, repr(value))
            if not isinstance(obj, list):
                return
            index = next((j for j, v in enumerate(obj) if isinstance(v, dict) and repr(v.get(step[0])) == step[1]),
                         None)
            if index is None:
                return
            if last:
                obj.pop(index)
                return
            obj = obj[index]
        else:
            if not isinstance(obj, dict) or step not in obj:
                return
            if last:
                del obj[step]
                return
            obj = obj[step]

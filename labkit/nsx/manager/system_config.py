"""Partial patch: whether a Policy API PATCH merges into the stored object or replaces it.

NSX (REST API reference, PartialPatchConfig; ``GET|PATCH /policy/api/v1/system-config/
nsx-partial-patch-config``): partial patch is off by default, and then "complete object data is
required for both PUT and PATCH operations in /policy APIs"; once on, a PATCH may carry a subset of
the fields and is merged into the stored object, array properties being replaced whole, not
merged. A client turns it on for one request with the header ``nsx-enable-partial-patch: true``
(vsphere-automation-sdk-go's nsx ``HeaderConfig.SetNSXEnablePartialPatch``, which nsx-operator and
the Terraform provider use), or for every request with the system setting.

Security policies keep their own rule: a PATCH merges the ``rules`` it carries with the existing
ones whatever the setting (the same reference). labkit applies the no-partial-patch replacement to
Groups (:mod:`labkit.nsx.manager.groups`); other types still merge on PATCH (docs/nsx-mock.md).
"""

from __future__ import annotations

from typing import Any

from labkit.nsx.manager.messages import Request
from labkit.nsx.manager.objects import bad_request
from labkit.nsx.manager.state import ManagerState

CONFIG_PATH = "/system-config/nsx-partial-patch-config"
HEADER = "nsx-enable-partial-patch"


def partial_patch(state: ManagerState, req: Request) -> bool:
    """Whether this PATCH is a partial patch: the request's header if it sends one, else the
    system setting (off unless turned on)."""
    header = req.header(HEADER).strip().lower()
    if header:
        return header == "true"
    config = state.store.get(CONFIG_PATH)
    return bool(config and config.get("enable_partial_patch"))


def get_partial_patch_config(state: ManagerState, req: Request) -> dict[str, Any]:
    """The partial patch setting (off by default)."""
    config = state.store.get(CONFIG_PATH)
    return {"enable_partial_patch": bool(config and config.get("enable_partial_patch"))}


def patch_partial_patch_config(state: ManagerState, req: Request) -> dict[str, Any]:
    """Turn partial patch on or off for every request: ``{"enable_partial_patch": true}``."""
    body = req.json_object()
    value = body.get("enable_partial_patch")
    if not isinstance(value, bool):
        raise bad_request(f"enable_partial_patch must be true or false, got {value!r}",
                          hint='send {"enable_partial_patch": true}')
    state.store.put(CONFIG_PATH, {"enable_partial_patch": value})
    return {"enable_partial_patch": value}

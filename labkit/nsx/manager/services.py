"""Services: ``/policy/api/v1/infra/services[/{id}]`` and the defaults NSX ships.

NSX ships predefined services (``is_default: true``, created by ``system``) that rules reference by
path, e.g. ``/infra/services/HTTP``. The mock seeds the few a lab needs, including a non-TCP/UDP one
(``ICMP-ALL``) so the Antrea restriction "TCP/UDP services only" (nsx.md §5.2) can be seen.
Entries are stored inline in ``service_entries``; L4 ports are validated (1..65535, ranges a-b).
"""

from __future__ import annotations

from typing import Any

from labkit.nsx.manager import paths
from labkit.nsx.manager.errors import ErrorCode
from labkit.nsx.manager.messages import Request, Response
from labkit.nsx.manager.objects import (
    Mode,
    bad_request,
    check_protection,
    list_response,
    not_found,
    prepare,
    public,
    validation_error,
)
from labkit.nsx.manager.principal import Principal
from labkit.nsx.manager.span import referrers
from labkit.nsx.manager.state import ManagerState

SYSTEM = Principal("system")
ENTRY_TYPES = ("L4PortSetServiceEntry", "ICMPTypeServiceEntry", "IPProtocolServiceEntry",
               "ALGTypeServiceEntry", "EtherTypeServiceEntry", "IGMPTypeServiceEntry",
               "NestedServiceServiceEntry")
L4_PROTOCOLS = ("TCP", "UDP")


def _l4(entry_id: str, protocol: str, *ports: str) -> dict[str, Any]:
    return {"id": entry_id, "resource_type": "L4PortSetServiceEntry", "l4_protocol": protocol,
            "destination_ports": list(ports), "source_ports": []}


DEFAULT_SERVICES: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "HTTP": ("HTTP", [_l4("HTTP", "TCP", "80")]),
    "HTTPS": ("HTTPS", [_l4("HTTPS", "TCP", "443")]),
    "DNS": ("DNS", [_l4("DNS-TCP", "TCP", "53")]),
    "DNS-UDP": ("DNS-UDP", [_l4("DNS-UDP", "UDP", "53")]),
    "SSH": ("SSH", [_l4("SSH", "TCP", "22")]),
    "MySQL": ("MySQL", [_l4("MySQL", "TCP", "3306")]),
    "HTTP-8080": ("HTTP 8080", [_l4("HTTP-8080", "TCP", "8080")]),
    "ICMP-ALL": ("ICMP ALL", [{"id": "ICMP-ALL", "resource_type": "ICMPTypeServiceEntry",
                               "protocol": "ICMPv4"}]),
}


def seed_default_services(state: ManagerState) -> None:
    """Create the default services that are missing (idempotent; run at server start)."""
    for service_id, (name, entries) in DEFAULT_SERVICES.items():
        path = paths.service_path(service_id)
        if state.store.get(path) is not None:
            continue
        new, _ = prepare(state, path=path, body={"display_name": name, "service_entries": entries},
                         mode="PATCH", principal=SYSTEM, allow_overwrite=True,
                         resource_type="Service")
        new["is_default"] = True
        new["service_type"] = "NON_ETHER"
        state.store.put(path, new)


def list_services(state: ManagerState, req: Request) -> dict[str, Any]:
    return list_response(state.store.list(paths.SERVICES), req.query)


def get_service(state: ManagerState, req: Request) -> dict[str, Any]:
    path = paths.service_path(req.params["service_id"])
    service = state.store.get(path)
    if service is None:
        raise not_found(path)
    return public(service)


def put_service(state: ManagerState, req: Request) -> dict[str, Any]:
    return write_service(state, req.params["service_id"], req.json_object(), "PUT",
                         req.principal, req.allow_overwrite)  # type: ignore[arg-type]


def patch_service(state: ManagerState, req: Request) -> dict[str, Any]:
    return write_service(state, req.params["service_id"], req.json_object(), "PATCH",
                         req.principal, req.allow_overwrite)  # type: ignore[arg-type]


def write_service(state: ManagerState, service_id: str, body: dict[str, Any], mode: Mode,
                  principal: Principal, allow_overwrite: bool) -> dict[str, Any]:
    path = paths.service_path(service_id)
    new, old = prepare(state, path=path, body=body, mode=mode, principal=principal,
                       allow_overwrite=allow_overwrite, resource_type="Service",
                       defaults={"service_entries": []})
    if old is not None and old.get("is_default"):
        new["is_default"] = True
    problems = service_problems(new)
    if problems:
        raise validation_error(f"Invalid service {path}", problems, code=ErrorCode.BAD_REQUEST)
    state.store.put(path, new)
    return public(new)


def delete_service(state: ManagerState, req: Request) -> Response:
    remove_service(state, req.params["service_id"], req.principal, req.allow_overwrite)  # type: ignore[arg-type]
    return Response(200)


def remove_service(state: ManagerState, service_id: str, principal: Principal,
                   allow_overwrite: bool) -> None:
    path = paths.service_path(service_id)
    old = state.store.get(path)
    if old is None:
        return
    if old.get("is_default"):
        raise bad_request(f"{path} is a default service and cannot be deleted.",
                          code=ErrorCode.NOT_ALLOWED)
    check_protection(old, principal, allow_overwrite)
    users = referrers(state.store, path)
    if users:
        raise bad_request(
            f"The object path=[{path}] cannot be deleted as either it has children or it is being "
            f"referenced by other objects path=[{', '.join(users)}].",
            code=ErrorCode.RESOURCE_IN_USE,
        )
    state.store.delete(path)


def service_problems(service: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    entries = service.get("service_entries")
    if not isinstance(entries, list):
        return ["service_entries must be a list"]
    for i, entry in enumerate(entries):
        where = f"service_entries[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where} must be an object")
            continue
        rt = entry.get("resource_type")
        if rt not in ENTRY_TYPES:
            problems.append(f"{where}.resource_type {rt!r} must be one of {', '.join(ENTRY_TYPES)}")
        elif rt == "L4PortSetServiceEntry":
            problems += l4_entry_problems(entry, where)
    return problems


def l4_entry_problems(entry: dict[str, Any], where: str) -> list[str]:
    problems = []
    if entry.get("l4_protocol") not in L4_PROTOCOLS:
        problems.append(f"{where}.l4_protocol {entry.get('l4_protocol')!r} must be TCP or UDP")
    for name in ("destination_ports", "source_ports"):
        ports = entry.get(name) or []
        if not isinstance(ports, list):
            problems.append(f"{where}.{name} must be a list of ports or ranges")
            continue
        if len(ports) > 15:
            problems.append(f"{where}.{name}: at most 15 ports or ranges")
        for k, port in enumerate(ports):
            if not _valid_port(port):
                problems.append(f"{where}.{name}[{k}] {port!r} must be a port 1-65535 or a range a-b")
    return problems


def _valid_port(value: Any) -> bool:
    text = str(value)
    parts = text.split("-", 1)
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        return False
    return all(1 <= n <= 65535 for n in numbers) and numbers == sorted(numbers)

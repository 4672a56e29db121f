"""Keep infrastructure apart from policy in a measured matrix.

The prober (:mod:`.prober`) already turns every answer that is not the pipeline's into an
``error`` cell. Two things it cannot see from a socket are decided here, after a batch:

* **silence** (graded ``drop``) is only a policy drop if the packet could leave. A pod whose
  neighbour entry for the next hop is ``INCOMPLETE``/``FAILED`` (or missing, when it should be a
  permanent one) never sent it: its ARP went unanswered. The next hop of a pod is the
  destination itself on the same node (the pod CIDR is on-link) and its gateway otherwise.
* **refused** (a RST or port-unreachable from the destination's kernel, graded ``allow``: the
  policy let the packet through) is an error when the destination pod *declares* that port: its
  server should have answered.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ...datapath.topology import PodSpec, Topology
from ...errors import CommandError
from ...policy.probe import Probe
from . import names, neigh
from .realize import pod_interface_problems


def next_hop(topology: Topology, src: PodSpec, dst: PodSpec) -> str:
    """The address ``src`` must resolve to send to ``dst``."""
    return dst.ip if src.node == dst.node else topology.node(src.node).gateway_ip


def explain_silence(lab: str, topology: Topology, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Among ``pairs`` graded drop, those the policy may not have decided, with the reason: a pod
    at either end that is not set up (no address, interface down, no route), or a source whose ARP
    for the next hop went unanswered."""
    pods = sorted({k for pair in pairs for k in pair})

    def pod_state(key: str) -> tuple[str, list[str]]:
        pod = topology.pods[key]
        return key, pod_interface_problems(names.pod_netns(lab, key), pod, topology.node(pod.node).gateway_ip)

    with ThreadPoolExecutor(min(8, max(1, len(pods)))) as pool:
        broken = {key: found for key, found in pool.map(pod_state, pods) if found}
    out: dict[tuple[str, str], str] = {}
    for src, dst in pairs:
        for end, key in (("source", src), ("destination", dst)):
            if key in broken:
                out[(src, dst)] = f"the {end} pod {key} is not set up: {'; '.join(broken[key])}"
                break
    out.update(unresolved(lab, topology, [pair for pair in pairs if pair not in out and pair[0] not in broken]))
    return out


def broken_pods(reasons: dict[tuple[str, str], str]) -> set[str]:
    """The pods :func:`explain_silence` found not set up."""
    return {why.split(" pod ", 1)[1].split(" is not set up", 1)[0] for why in reasons.values() if "is not set up" in why}


def unresolved(lab: str, topology: Topology, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Among ``pairs`` graded drop, those whose source could not resolve its next hop: the reason."""
    by_source: dict[str, list[tuple[str, str]]] = {}
    for pair in pairs:
        by_source.setdefault(pair[0], []).append(pair)

    def look(src: str) -> dict[tuple[str, str], str]:
        try:
            table = neigh.dump(names.pod_netns(lab, src))
        except (OSError, CommandError) as exc:
            return {pair: f"the source pod's neighbour table cannot be read ({exc})" for pair in by_source[src]}
        out = {}
        sp = topology.pods[src]
        for pair in by_source[src]:
            hop = next_hop(topology, sp, topology.pods[pair[1]])
            state, _mac = table.get(hop, ("", ""))
            if state in neigh.UNRESOLVED:
                out[pair] = (f"ARP for the next hop {hop} is unresolved in {src} (neighbour state {state}): the "
                             "packet never left the pod")
            elif not state:
                out[pair] = (f"{src} has no neighbour entry for the next hop {hop} (its static entry is gone): the "
                             "packet may never have left the pod")
        return out

    found: dict[tuple[str, str], str] = {}
    with ThreadPoolExecutor(min(8, max(1, len(by_source)))) as pool:
        for part in pool.map(look, by_source):
            found.update(part)
    return found


def declares(pod: PodSpec, probe: Probe) -> bool:
    """Does ``pod`` declare a container port for ``probe`` (so its server must answer there)?"""
    return probe.protocol != "ICMP" and any(cp.protocol == probe.protocol and cp.container_port == probe.port
                                            for cp in pod.ports)


__all__ = ["next_hop", "explain_silence", "unresolved", "broken_pods", "declares"]

"""The ``status`` the lab's controllers would write, computed from the model.

Each function answers for one kind what the real controller writes:

* :func:`antrea_policy_status`: Antrea's NetworkPolicy status controller
  (``pkg/controller/networkpolicy/status_controller.go``): ``desiredNodesRealized`` = the Nodes
  that run a Pod the policy applies to, ``currentNodesRealized`` = those that reported it
  realized, ``phase`` Realized when they are equal, ``observedGeneration`` = the generation the
  status describes, condition ``Realizable`` (False with reason
  ``NetworkPolicyAppliedToUnsupportedGroup`` and ``phase: Pending`` when Antrea cannot realize it):
  :func:`labkit.policy.status.policy_status`, the same function ``lab.policies()`` shows.
* :func:`group_status`: ClusterGroup/Group ``GroupMembersComputed`` (``pkg/apis/crd/v1beta1/types.go``).
* Pod/Node/Deployment/Namespace/Service statuses as the kubelet, node lifecycle and Deployment
  controllers leave them on a healthy kind cluster (every Pod Running and Ready).
"""

from __future__ import annotations

import hashlib

from ..model.cluster import ClusterState
from ..model.objects import AntreaPolicy, Deployment, Group, Node, Pod
from ..policy.compiler import PolicySet
from ..policy.groups import Selection
from ..policy.status import policy_status

KUBELET_VERSION = "v1.37.0"


def _condition(kind: str, ok: bool, since: str, reason: str = "", message: str = "") -> dict:
    out = {"type": kind, "status": "True" if ok else "False", "lastTransitionTime": since}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def antrea_policy_status(state: ClusterState, policy_set: PolicySet, policy: AntreaPolicy, generation: int,
                         since: str) -> dict:
    """What antrea-controller writes (labkit.policy.status: one function for every face), with the
    conditions' ``lastTransitionTime``, which the model has no clock for."""
    status = policy_status(state, policy_set, policy.ref)
    assert status is not None  # an Antrea-native policy always has one
    out = status.to_dict()
    out["observedGeneration"] = generation
    for condition in out["conditions"]:
        condition["lastTransitionTime"] = since
    return out


def group_status(selection: Selection, group: Group, since: str) -> dict:
    computed, reason = selection.group_status(group)
    return {"conditions": [_condition("GroupMembersComputed", computed, since, reason)]}


def pod_status(state: ClusterState, pod: Pod, containers: list[dict], since: str) -> dict:
    node = next((n for n in state.nodes if n.name == pod.node_name), None)
    scheduled = node is not None
    ready = scheduled and bool(pod.pod_ip)
    status: dict = {"phase": "Running" if ready else "Pending", "qosClass": "BestEffort", "startTime": since,
                    "conditions": [
                        _condition("PodReadyToStartContainers", ready, since),
                        _condition("Initialized", True, since),
                        _condition("Ready", ready, since),
                        _condition("ContainersReady", ready, since),
                        _condition("PodScheduled", scheduled, since)]}
    if node is not None:
        status["hostIP"] = node.internal_ip
        status["hostIPs"] = [{"ip": node.internal_ip}]
    if pod.pod_ip:
        status["podIP"] = pod.pod_ip
        status["podIPs"] = [{"ip": pod.pod_ip}]
    status["containerStatuses"] = [{
        "name": c.get("name", ""), "image": c.get("image", ""), "imageID": "", "ready": ready, "restartCount": 0,
        "started": ready, "containerID": "containerd://" + hashlib.sha256(f"{pod.key}/{c.get('name')}".encode()).hexdigest(),
        "state": {"running": {"startedAt": since}} if ready else {"waiting": {"reason": "ContainerCreating"}},
    } for c in containers if isinstance(c, dict)]
    return status


def node_status(node: Node, raw_status: dict, since: str) -> dict:
    status = dict(raw_status)
    addresses = [{"type": "InternalIP", "address": node.internal_ip}] if node.internal_ip else []
    status.setdefault("addresses", addresses + [{"type": "Hostname", "address": node.name}])
    status.setdefault("conditions", [
        {**_condition("MemoryPressure", False, since, "KubeletHasSufficientMemory"), "lastHeartbeatTime": since},
        {**_condition("DiskPressure", False, since, "KubeletHasNoDiskPressure"), "lastHeartbeatTime": since},
        {**_condition("PIDPressure", False, since, "KubeletHasSufficientPID"), "lastHeartbeatTime": since},
        {**_condition("Ready", True, since, "KubeletReady", "kubelet is posting ready status"),
         "lastHeartbeatTime": since}])
    capacity = {"cpu": "2", "memory": "8039716Ki", "pods": "110", "ephemeral-storage": "61202244Ki"}
    status.setdefault("capacity", capacity)
    status.setdefault("allocatable", capacity)
    status.setdefault("nodeInfo", {
        "architecture": "amd64", "bootID": "", "containerRuntimeVersion": "containerd://2.1.1",
        "kernelVersion": "6.1.0", "kubeProxyVersion": KUBELET_VERSION, "kubeletVersion": KUBELET_VERSION,
        "machineID": "", "operatingSystem": "linux", "osImage": "Debian GNU/Linux 12 (bookworm)", "systemUUID": ""})
    return status


def deployment_status(state: ClusterState, dep: Deployment, generation: int, since: str) -> dict:
    owner = f"Deployment/{dep.name}"
    pods = [p for p in state.pods if p.namespace == dep.namespace and p.owner == owner]
    ready = sum(1 for p in pods if p.pod_ip)
    status = {"observedGeneration": generation, "replicas": len(pods), "updatedReplicas": len(pods),
              "readyReplicas": ready, "availableReplicas": ready,
              "conditions": [
                  _condition("Available", ready >= dep.replicas, since, "MinimumReplicasAvailable",
                             "Deployment has minimum availability."),
                  _condition("Progressing", True, since, "NewReplicaSetAvailable",
                             f'ReplicaSet "{dep.name}" has successfully progressed.')]}
    if ready < len(pods):
        status["unavailableReplicas"] = len(pods) - ready
    return status

"""The ``status`` antrea-controller writes on an Antrea-native policy, as a function of the model.

Reproduces v2.7.0 pkg/controller/networkpolicy/status_controller.go (``syncHandler``,
``GenerateNetworkPolicyCondition``) and the status shape of pkg/apis/crd/v1beta1 types.go
(``NetworkPolicyStatus``, ``NetworkPolicyCondition``):

* a policy Antrea cannot realize (an appliedTo Group with Pods in other Namespaces, see
  :meth:`labkit.policy.groups.Selection.applied_to_group`) is ``Pending`` on 0 of 0 Nodes with the
  condition ``Realizable=False``, reason ``NetworkPolicyAppliedToUnsupportedGroup`` and Antrea's
  message (e2e TestAntreaPolicyStatusWithAppliedToUnsupportedGroup);
* otherwise ``desiredNodesRealized`` is the number of Nodes running a Pod the policy applies to
  (its span; 0 when it applies to none, which is still ``Realized``: e2e
  TestAntreaPolicyStatusWithAppliedToPerRule), ``currentNodesRealized`` the number of those whose
  agent realized the policy, and the phase ``Realized`` when both are equal, else ``Realizing``;
  the condition is ``Realizable=True``;
* ``observedGeneration`` is the policy's ``metadata.generation`` (1 on create, +1 per spec change).

``lastTransitionTime`` is left to the face that renders the status (the model has no clock).
K8s NetworkPolicies get no status from Antrea.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from ..errors import NotFoundError
from ..model.cluster import ClusterState
from ..model.objects import AntreaPolicy, ObjectRef
from .compiler import PolicySet, antrea_policy_ref

# crdv1beta1.NetworkPolicyPhase values (types.go); Failed needs an agent that fails, not modelled.
PENDING, REALIZING, REALIZED = "Pending", "Realizing", "Realized"
UNSUPPORTED_GROUP = "NetworkPolicyAppliedToUnsupportedGroup"


@dataclass(frozen=True)
class PolicyCondition:
    """One ``status.conditions`` entry (crdv1beta1.NetworkPolicyCondition)."""

    type: str
    status: str  # "True" | "False"
    reason: str = ""
    message: str = ""

    def to_dict(self) -> dict:
        out = {"type": self.type, "status": self.status}
        if self.reason:
            out["reason"] = self.reason
        if self.message:
            out["message"] = self.message
        return out


@dataclass(frozen=True)
class PolicyStatus:
    """``status`` of a ClusterNetworkPolicy or Antrea NetworkPolicy (crdv1beta1.NetworkPolicyStatus)."""

    phase: str
    observed_generation: int
    current_nodes_realized: int
    desired_nodes_realized: int
    conditions: tuple[PolicyCondition, ...]

    @property
    def realizable(self) -> PolicyCondition | None:
        return next((c for c in self.conditions if c.type == "Realizable"), None)

    def to_dict(self) -> dict:
        """The JSON Antrea writes (camelCase; every field is required in the CRD's Go type)."""
        return {"phase": self.phase, "observedGeneration": self.observed_generation,
                "currentNodesRealized": self.current_nodes_realized,
                "desiredNodesRealized": self.desired_nodes_realized,
                "conditions": [c.to_dict() for c in self.conditions]}


def policy_status(state: ClusterState, policy_set: PolicySet, ref: ObjectRef,
                  realized_nodes: Collection[str] | None = None) -> PolicyStatus | None:
    """The status Antrea reports for the Antrea-native policy ``ref`` (None for a K8s NetworkPolicy).

    ``realized_nodes`` are the Nodes whose agent has realized the current policy set (None: all
    of them, as on a running sim or ovs lab, which realize every change before returning).
    """
    policy = state.objects.get(ref)
    if policy is None:
        raise NotFoundError(f"{ref} not found")
    if not isinstance(policy, AntreaPolicy):
        return None
    generation = state.object_generation(ref)
    key = antrea_policy_ref(policy)
    error = policy_set.unrealizable.get(key)
    if error is not None:
        return PolicyStatus(PENDING, generation, 0, 0,
                            (PolicyCondition("Realizable", "False", UNSUPPORTED_GROUP, error),))
    pods = policy_set.applied_to.get(key, frozenset())
    span = {p.node_name for p in state.pods if p.key in pods and p.node_name}
    current = len(span) if realized_nodes is None else len(span & set(realized_nodes))
    phase = REALIZED if current == len(span) else REALIZING
    return PolicyStatus(phase, generation, current, len(span), (PolicyCondition("Realizable", "True"),))


__all__ = ["PolicyCondition", "PolicyStatus", "policy_status", "PENDING", "REALIZING", "REALIZED",
           "UNSUPPORTED_GROUP"]

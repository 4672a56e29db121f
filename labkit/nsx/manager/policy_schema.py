"""The enums, defaults and bounds of NSX's SecurityPolicy and Rule types, as plain data.

Kept apart from :mod:`labkit.nsx.manager.policy_rules` (which validates against the store) so NSX
clients in labkit (the segmentation planner) can use them without the manager's store.
"""

from __future__ import annotations

from typing import Any

CATEGORIES = ("Ethernet", "Emergency", "Infrastructure", "Environment", "Application")
ANTREA_CATEGORIES = ("Emergency", "Infrastructure", "Environment", "Application")
ACTIONS = ("ALLOW", "DROP", "REJECT", "JUMP_TO_APPLICATION")
ANTREA_ACTIONS = ("ALLOW", "DROP", "REJECT")
DIRECTIONS = ("IN", "OUT", "IN_OUT")
IP_PROTOCOLS = ("IPV4", "IPV6", "IPV4_IPV6", "NONE")
RULE_DEFAULTS: dict[str, Any] = {
    "source_groups": ["ANY"], "destination_groups": ["ANY"], "services": ["ANY"],
    "scope": ["ANY"], "profiles": ["ANY"], "action": "ALLOW", "direction": "IN_OUT",
    "ip_protocol": "IPV4_IPV6", "logged": False, "disabled": False,
    "sources_excluded": False, "destinations_excluded": False, "sequence_number": 0,
}
# sequence_number bounds of the NSX schema (vcf-nsx 9.1 vcf.nsx.model_client: SecurityPolicy
# "must be between 0 and 999,999", minimum 0; Rule minimum 0, no maximum; the NSX Policy API
# reference types SecurityPolicy and Rule say the same). Served in the OpenAPI document too.
POLICY_SEQUENCE_MAX = 999_999
SEQUENCE_MIN = 0
POLICY_DEFAULTS: dict[str, Any] = {
    "category": "Application", "scope": ["ANY"], "sequence_number": 0, "stateful": True,
    "locked": False,
}

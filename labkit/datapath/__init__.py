"""The OVS datapath as pure data: Antrea's pipeline (tables), flow entries, and the compiler.

Nothing here does I/O: ``compile_flows(policy_set, topology, node)`` returns the flows one node's
``br-int`` needs, as :class:`FlowEntry` objects that render to ``ovs-ofctl`` text. The ovs backend
installs them; the golden tests compare the text.
"""

from .compile import compile_flows, cookie_for_rule, decode_cookie
from .openflow import FlowEntry, parse_dump, render_flows
from .pipeline import PIPELINE, TABLES, Table, table, table_id, table_name
from .topology import NodeSpec, PodSpec, Topology

__all__ = ["compile_flows", "cookie_for_rule", "decode_cookie", "FlowEntry", "parse_dump", "render_flows", "PIPELINE",
           "TABLES", "Table", "table", "table_id", "table_name", "NodeSpec", "PodSpec", "Topology"]

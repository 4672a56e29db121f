"""Notebook widgets (ipywidgets 8): views of a Lab, never a second policy engine.

::

    from labkit import Lab
    from labkit.widgets import LabSession, PolicyEditor, ReachabilityMatrix, TopologyView, TraceflowView

    lab = Lab(profile="workshop")
    session = LabSession(lab)              # shared by the widgets: one change refreshes them all
    matrix = ReachabilityMatrix(session)   # click a cell: egress + ingress deciding rules
    PolicyEditor(session)                  # Apply / Delete / Reset, errors with line and field path
    TraceflowView(session, follow=matrix)  # the path of the packet of the clicked cell

Every widget also accepts the Lab itself and then uses the lab's shared session. Flow tables and
graphs (``FlowTable``, ``FlowDashboard``), the NSX Manager console (``NSXConsole``), the capture view
and encryption switch (``CaptureView``, ``EncryptionSwitch``) and ``OffloadDashboard`` live here too.
"""

from .editor import PolicyEditor
from .encryption import CaptureView, EncryptionSwitch
from .doctor import backends, environment
from .flows import (FlowDashboard, FlowTable, check_flows, policy_chord_figure, policy_matrix_figure, sankey_figure,
                    service_map_figure, show_figure)
from .nsx_console import NSXConsole, group_body, policy_body, rule_body
from .offload import OffloadDashboard
from .exercise import check_decided_by, check_intent, check_reachability, check_segmentation, intended_matrix
from .matrix import ReachabilityMatrix
from .session import LabSession, session_for
from .topology import SelectorSyntaxError, TopologyView, parse_selector
from .traceflow import TraceflowView

__all__ = [
    "CaptureView",
    "EncryptionSwitch",
    "LabSession",
    "session_for",
    "PolicyEditor",
    "ReachabilityMatrix",
    "TopologyView",
    "TraceflowView",
    "parse_selector",
    "SelectorSyntaxError",
    "check_reachability",
    "check_decided_by",
    "check_intent",
    "check_segmentation",
    "intended_matrix",
    "FlowTable",
    "FlowDashboard",
    "check_flows",
    "sankey_figure",
    "policy_chord_figure",
    "service_map_figure",
    "policy_matrix_figure",
    "show_figure",
    "backends",
    "environment",
    "NSXConsole",
    "group_body",
    "rule_body",
    "policy_body",
    "OffloadDashboard",
]

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
from .flows import FlowDashboard, FlowTable
from .nsx_console import NSXConsole
from .offload import OffloadDashboard
from ..errors import CheckFailed
from .exercise import check_decided_by, check_intent, check_reachability, intended_matrix
from .matrix import ReachabilityMatrix
from .session import LabSession, session_for
from .topology import SelectorSyntaxError, TopologyView, parse_selector
from .traceflow import Observation, NodeResult, Traceflow, TraceflowView, traceflow_from_explanation

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
    "Traceflow",
    "NodeResult",
    "Observation",
    "traceflow_from_explanation",
    "check_reachability",
    "check_decided_by",
    "check_intent",
    "intended_matrix",
    "CheckFailed",
    "FlowTable",
    "FlowDashboard",
    "NSXConsole",
    "OffloadDashboard",
]

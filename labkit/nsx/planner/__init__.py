"""Micro-segmentation from observed flows: NSX groups and one DFW policy planned from an Antrea
cluster's flow records, previewed against the lab and pushed through the NSX Policy API.

::

    nsx = start_nsx(lab, register=True)
    run = lab.generate_traffic("shop", duration_s=120, seed=1)
    plan = nsx.plan_segmentation(lab.flows(run))     # nothing is written yet
    plan.to_frame(); plan.groups; plan.policies; plan.preview(); plan.push()

The planner is a client of NSX like the adapter: it reads and writes only through an
:class:`~labkit.nsx.manager.NSXClient` (the security admin's), never the manager's store. It
reuses the adapter's NSX -> Antrea mapping (:func:`labkit.nsx.interworking.realize.render`) for
its preview. Modules: :mod:`.tiers` (flows -> tiers), :mod:`.bodies` (tiers -> NSX bodies),
:mod:`.changes` (the minimal change against NSX), :mod:`.preview`, :mod:`.plan`. Docs:
docs/nsx-planner.md.
"""

from labkit.nsx.planner.changes import Change
from labkit.nsx.planner.errors import PlanError
from labkit.nsx.planner.plan import PushResult, SegmentationPlan, plan_segmentation
from labkit.nsx.planner.preview import Preview

__all__ = ["Change", "PlanError", "Preview", "PushResult", "SegmentationPlan", "plan_segmentation"]

"""The course as something to run, hand out and follow.

* :mod:`.checks`: what an exercise check returns (:class:`CheckResult`: *passed* or *not yet*, never
  an error outside a grading run) — the check functions live with their topic
  (:mod:`labkit.widgets.exercise`, :mod:`labkit.encryption.exercises`, :mod:`labkit.smartnic.exercises`);
* :mod:`.names`: a lab name unique to the learner and the notebook (:func:`lab_name`);
* :mod:`.workspace`: learner workspaces (``labkit course init``), updated the way nbgitpuller merges;
* :mod:`.progress`: the learners' check log and the trainer's board (``labkit course progress``);
* :mod:`.runner` / :mod:`.execute`: headless runs (``labkit notebooks run``) and ``labkit binder-link``;
* :mod:`.hub_board`: the trainer's page on a JupyterHub.

Notebooks import :func:`lab_name` from here (the public surface: ``__all__``).
"""

from .checks import CheckResult, grading
from .names import lab_name, learner_name

__all__ = ["lab_name", "learner_name", "CheckResult", "grading"]

"""The ``sim`` backend: labkit's reference semantics in pure Python (no root, no Docker).

:mod:`.backend` holds :class:`SimBackend`; :mod:`.traceflow` predicts Antrea's Traceflow from the
engine's explanation. Everything sim shows beyond verdicts is modelled and labelled so.
"""

from .backend import SimBackend
from .traceflow import predict_traceflow

__all__ = ["SimBackend", "predict_traceflow"]

"""Encryption widgets: a capture as a packet list with a per-layer view of one packet, and a
mode switch that re-captures after each change.

The per-layer view comes from labkit's own dissector (``labkit.encryption.dissect``), so it is
the same on Binder (no tshark) and in the lab; what a layer hides shows as an opaque ``data``,
``esp`` or ``wg`` layer, exactly what the eavesdropper gets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd

from ..encryption.dissect import dissect
from ..encryption.wire import MODES
from ._style import ACCENT, esc, frame_html

if TYPE_CHECKING:  # pragma: no cover
    from ..encryption.wire import Capture
    from ..lab import Lab

# The fields worth a learner's attention per layer; the rest stay in layer_table(full=True).
_SHOWN = {
    "eth": ("src", "dst"), "ip": ("src", "dst", "proto"), "udp": ("sport", "dport"),
    "tcp": ("sport", "dport", "flags"), "geneve": ("vni",), "wg": ("message", "receiver", "counter"),
    "esp": ("spi", "sequence"), "http": ("line",),
}


def layer_table(data: bytes, full: bool = False) -> pd.DataFrame:
    """One frame, layer by layer: offset, header bytes, and the fields the layer shows on the wire."""
    rows = []
    for layer in dissect(data).layers:
        keep = None if full else _SHOWN.get(layer.name)
        fields = {k: v for k, v in layer.fields.items() if keep is None or k in keep}
        rows.append({"layer": layer.name, "offset": layer.offset, "header bytes": layer.header_len,
                     "trailer bytes": layer.trailer_len,
                     "fields": ", ".join(f"{k}={v}" for k, v in fields.items()) or "(opaque)"})
    return pd.DataFrame(rows, columns=["layer", "offset", "header bytes", "trailer bytes", "fields"])


class CaptureView(widgets.VBox):
    """The frames of a :class:`~labkit.encryption.wire.Capture` and the layers of the one picked."""

    def __init__(self, capture: "Capture", **kwargs: Any) -> None:
        self.picker = widgets.Dropdown(description="packet", layout=widgets.Layout(width="95%"))
        self.title = widgets.HTML()
        self.frames_html = widgets.HTML()
        self.layers_html = widgets.HTML()
        self.picker.observe(lambda _: self._show_layers(), names="value")
        super().__init__([self.title, self.frames_html, self.picker, self.layers_html], **kwargs)
        self.show(capture)

    def show(self, capture: "Capture") -> None:
        self.capture = capture
        kind = "emulated" if capture.emulated else "captured"
        self.title.value = (f"<b style='color:{ACCENT}'>{esc(capture.mode)}</b>: {len(capture.frames)} frames "
                            f"{kind} between {esc(capture.src.node_ip)} and {esc(capture.dst.node_ip)}")
        self.frames_html.value = frame_html(self.frames(), max_rows=40)
        self.picker.options = [(f"{i + 1}: {f.direction} — {dissect(f.data).protocols}", i)
                               for i, f in enumerate(capture.frames)]
        self.picker.value = 0 if capture.frames else None
        self._show_layers()

    def frames(self) -> pd.DataFrame:
        rows = []
        for i, f in enumerate(self.capture.frames, 1):
            d = dissect(f.data)
            rows.append({"no": i, "direction": f.direction, "bytes": len(f.data), "layers": d.protocols,
                         "readable HTTP": b"HTTP/1.1" in f.data or f.data.find(b"GET /") >= 0})
        return pd.DataFrame(rows, columns=["no", "direction", "bytes", "layers", "readable HTTP"])

    def layers(self, index: int | None = None) -> pd.DataFrame:
        index = self.picker.value if index is None else index
        if index is None:
            return layer_table(b"")
        return layer_table(self.capture.frames[index].data)

    def _show_layers(self) -> None:
        self.layers_html.value = frame_html(self.layers()) if self.picker.value is not None else ""


class EncryptionSwitch(widgets.VBox):
    """Antrea's ``trafficEncryptionMode`` as buttons: each click switches the lab and captures one
    request between ``src`` and ``dst`` (pods on different nodes) again."""

    def __init__(self, lab: "Lab", src: str, dst: str, **kwargs: Any) -> None:
        self.lab, self.src, self.dst = lab, src, dst
        self.buttons = widgets.ToggleButtons(options=list(MODES), value=lab.encryption,
                                             description="encryption")
        self.status = widgets.HTML()
        self.view = CaptureView(lab.capture(src, dst))
        self.buttons.observe(lambda change: self.switch(change["new"]), names="value")
        super().__init__([self.buttons, self.status, self.view], **kwargs)

    def switch(self, mode: str) -> None:
        """Switch the lab to ``mode`` and show a fresh capture (errors are shown, not raised)."""
        try:
            if self.lab.encryption != mode:
                self.lab.set_encryption(mode)
            self.view.show(self.lab.capture(self.src, self.dst))
            self.status.value = ""
        except Exception as exc:  # a widget callback has nowhere to raise to: say it in the widget
            self.status.value = f"<span style='color:#D55E00'>✗ {esc(exc)}</span>"
        if self.buttons.value != self.lab.encryption:
            self.buttons.value = self.lab.encryption


__all__ = ["CaptureView", "EncryptionSwitch", "layer_table"]

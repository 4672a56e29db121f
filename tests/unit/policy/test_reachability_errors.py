"""``error`` cells: a measured probe that failed for a reason that is not the policy's is shown as
such (never as drop or reject), with its reason, in every form of the matrix."""

from __future__ import annotations

from labkit.policy.probe import Probe
from labkit.policy.reachability import Reachability

PODS = ["x/a", "x/b", "y/a"]


def measured(errors: dict | None = None) -> Reachability:
    cells = {(s, d): "allow" for s in PODS for d in PODS}
    cells[("x/a", "y/a")] = "drop"
    cells[("y/a", "x/b")] = "reject"
    for pair in errors or {}:
        cells[pair] = "error"
    return Reachability.from_cells(PODS, PODS, cells, Probe(), backend="ovs", errors=errors)


def test_error_cells_carry_their_reason_everywhere():
    why = "the destination pod x/b is not set up: eth0 has no address, the model says 10.244.1.3"
    m = measured({("x/a", "x/b"): why, ("y/a", "y/a"): ""})
    assert m["x/a", "x/b"] == "error" and m.errors[("x/a", "x/b")] == why
    assert m.errors[("y/a", "y/a")] == "the probe failed", "an error without a reason still says it failed"
    assert m.counts() == {"allow": 5, "drop": 1, "reject": 1, "error": 2}
    frame = m.to_frame()
    assert frame.loc["x/a", "x/b"] == "error" and frame.loc["x/a", "y/a"] == "drop"
    long = m.to_long_frame()
    assert long.set_index(["source", "destination"]).loc[("x/a", "x/b"), "error"] == why
    assert "E" in m.text().splitlines()[1] and "2 error" in str(m) and why in str(m)
    html = m._repr_html_()
    assert "2 error" in html and "eth0 has no address" in html
    assert ("x/a", "x/b", "error", "allow") in m.diff(measured())
    assert not m.same_as(measured())


def test_a_matrix_without_errors_is_unchanged():
    m = measured()
    assert m.counts() == {"allow": 7, "drop": 1, "reject": 1}
    assert m.errors == {} and "error" not in m.to_long_frame().columns and "error" not in str(m)

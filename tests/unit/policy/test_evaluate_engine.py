"""The engine's building blocks: both first-match strategies and the verified pod partition."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from labkit import Lab
from labkit.policy.evaluate import Engine, _partition, first_match
from labkit.policy.probe import Probe


def plain_first_match(a, b):
    out = np.full((a.shape[0], b.shape[0]), -1)
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            hits = np.flatnonzero(a[i] & b[j])
            if len(hits):
                out[i, j] = hits[0]
    return out


@st.composite
def memberships(draw):
    k = draw(st.integers(0, 150))  # crosses the 64-rule word boundary
    a = draw(arrays(bool, (draw(st.integers(1, 12)), k)))
    b = draw(arrays(bool, (draw(st.integers(1, 12)), k)))
    return a, b


@settings(max_examples=200, deadline=None)
@given(memberships())
def test_painting_and_bit_words_find_the_same_first_rule(ab):
    a, b = ab
    want = plain_first_match(a, b)
    for strategy in ("paint", "words", "auto"):
        assert (first_match(a, b, strategy) == want).all(), strategy


def test_a_fingerprint_collision_falls_back_to_the_exact_partition():
    columns = [np.array([0, 2]), np.array([1, 2])]
    values = np.zeros((4, 0), dtype=np.int32)
    colliding = np.array([7, 7], dtype=np.uint64)  # pods 0 and 1 would share a fingerprint
    klass, rep, membership = _partition(4, columns, values, weights=colliding)
    assert len(set(klass.tolist())) == 4  # 0 {c0}, 1 {c1}, 2 {c0, c1}, 3 {}
    assert membership[klass].tolist() == [[True, False], [False, True], [True, True], [False, False]]
    klass, _, _ = _partition(4, columns, np.array([[1], [1], [2], [2]], dtype=np.int32), weights=colliding)
    assert len(set(klass.tolist())) == 4


def test_pods_isolated_by_different_policies_stay_apart_and_explain_per_pod():
    with Lab(profile="workshop") as lab:
        lab.apply([{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                    "metadata": {"name": f"deny-{pod}", "namespace": "x"},
                    "spec": {"podSelector": {"matchLabels": {"pod": pod}}, "policyTypes": ["Ingress"]}}
                   for pod in ("a", "b")])
        engine = Engine(lab.policy_set, lab.state.pods)
        ev = engine.evaluate(Probe("TCP", 80))
        m = lab.reachability()
        assert m["y/a", "x/a"] == m["y/a", "x/b"] == "drop"
        assert "x/deny-a" in m.explain("y/a", "x/a").ingress.reason
        assert "x/deny-b" in m.explain("y/a", "x/b").ingress.reason
        assert ev.ingress.dst_class[1] != ev.ingress.dst_class[0]  # x/a and x/b
        # a whole-matrix view agrees with the per-cell one
        assert (ev.ingress_rule == np.array([[ev.cell(i, j)[1][1] for j in range(9)] for i in range(9)])).all()


def test_sources_and_destinations_of_different_sizes():
    with Lab(profile="workshop") as lab:
        lab.apply("policies/deny-all.yaml")
        full = lab.reachability()
        part = lab.reachability(sources=["y/a", "z/b"], destinations=["x/a", "x/b", "y/c", "z/b"])
        for s in part.sources:
            for d in part.destinations:
                assert part[s, d] == full[s, d]
        assert part["z/b", "z/b"] == "allow"  # itself


def test_cached_engines_go_with_their_policy_set():
    import gc

    import labkit.policy.evaluate as evaluate_module

    before = len(evaluate_module._ENGINES)
    lab = Lab(profile="workshop")
    lab.reachability(port=80)
    lab.reachability(port=81)  # the same engine
    assert len(evaluate_module._ENGINES) == before + 1
    lab.apply("policies/deny-all.yaml")  # recompiled: the old PolicySet and its engines are gone
    lab.reachability(port=80)
    gc.collect()
    assert len(evaluate_module._ENGINES) == before + 1
    lab.stop()
    del lab
    gc.collect()
    assert len(evaluate_module._ENGINES) == before


def test_frames_are_the_same_with_the_public_constructor(monkeypatch):
    import pandas as pd

    with Lab(profile="workshop") as lab:
        lab.apply("policies/deny-all.yaml")
        m = lab.reachability()
        fast = m.to_frame()
        monkeypatch.delattr(pd.DataFrame, "_from_arrays")
        public = m.to_frame()
    assert fast.equals(public) and list(public.columns) == m.destinations and public.index.name == "source"
    assert (fast.dtypes == "category").all() and fast.loc["y/a", "x/b"] == "drop"
    assert int((fast == "allow").to_numpy().sum()) == m.counts()["allow"]

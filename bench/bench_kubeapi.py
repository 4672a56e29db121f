"""Benchmark: what the Kubernetes API face costs on top of the Lab (sim, workshop profile).

Prints figures and ratios against a baseline measured in the same run; asserts nothing.

* apply: ``Lab.apply`` of one ACNP in-process (baseline) vs the same object by server-side apply
  over HTTPS with the official Python client (PATCH application/apply-patch+yaml), alternating
  two specs so every apply changes the lab;
* get: ``lab.state.pods`` in-process (baseline) vs ``GET /api/v1/pods`` (JSON list) and the
  Table ``kubectl get pods`` asks for;
* watch: from ``Lab.apply`` returning to the MODIFIED event arriving on an open watch;
* kubectl: one ``kubectl get pods -A`` process (discovery cached), end to end.

    .venv/bin/python bench/bench_kubeapi.py            # 200 rounds
    .venv/bin/python bench/bench_kubeapi.py --rounds 50
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

ACNP = {"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": "bench"},
        "spec": {"priority": 5, "appliedTo": [{"namespaceSelector": {"matchLabels": {"ns": "x"}}}],
                 "ingress": [{"action": "Drop", "name": "r"}]}}


def spec(i: int) -> dict:
    return {**ACNP, "spec": {**ACNP["spec"], "priority": 5 + i % 2}}


def timed(fn, rounds: int) -> list[float]:
    out = []
    for i in range(rounds):
        start = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def show(name: str, samples: list[float], baseline: list[float] | None = None) -> None:
    med = statistics.median(samples)
    p95 = sorted(samples)[int(len(samples) * 0.95) - 1]
    ratio = f"  x{med / statistics.median(baseline):.1f} of baseline" if baseline else ""
    print(f"{name:<44} median {med:8.2f} ms   p95 {p95:8.2f} ms{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    from kubernetes import client, config, watch

    from labkit import Lab
    from labkit.testing import kubectl_binary

    with tempfile.TemporaryDirectory() as tmp, \
            Lab(profile="workshop", name="bench", state_dir=Path(tmp) / "lab", kube_api=True) as lab:
        api = config.new_client_from_config(config_file=str(lab.kubeconfig))
        custom = client.CustomObjectsApi(api)
        v1 = client.CoreV1Api(api)
        print(f"labkit Kubernetes API face, workshop profile ({len(lab.state.pods)} pods), {args.rounds} rounds")
        base_apply = timed(lambda i: lab.apply(spec(i)), args.rounds)
        show("Lab.apply (in-process, baseline)", base_apply)

        def ssa(i: int) -> None:
            custom.api_client.call_api(
                "/apis/crd.antrea.io/v1beta1/clusternetworkpolicies/bench", "PATCH",
                query_params=[("fieldManager", "bench")], header_params={"Content-Type": "application/apply-patch+yaml",
                                                                          "Accept": "application/json"},
                body=spec(i + 1), auth_settings=["BearerToken"], _preload_content=False)

        show("server-side apply over HTTPS", timed(ssa, args.rounds), base_apply)
        base_get = timed(lambda i: [p.pod_ip for p in lab.state.pods], args.rounds)
        show("lab.state.pods (in-process, baseline)", base_get)
        show("GET /api/v1/pods (JSON list)", timed(lambda i: v1.list_pod_for_all_namespaces(
            _preload_content=False).read(), args.rounds), base_get)
        table = "application/json;as=Table;v=v1;g=meta.k8s.io"
        show("GET /api/v1/pods (Table, kubectl get)", timed(lambda i: api.call_api(
            "/api/v1/pods", "GET", header_params={"Accept": table}, auth_settings=["BearerToken"],
            _preload_content=False).read(), args.rounds), base_get)

        arrived: list[float] = []
        sent: list[float] = []
        ready = threading.Event()
        rv = v1.list_namespaced_pod("x").metadata.resource_version

        def consume() -> None:
            w = watch.Watch()
            ready.set()
            for event in w.stream(v1.list_namespaced_pod, "x", resource_version=rv, timeout_seconds=120):
                arrived.append(time.perf_counter())
                if len(arrived) >= min(args.rounds, 100):
                    w.stop()

        thread = threading.Thread(target=consume, daemon=True)
        thread.start()
        ready.wait()
        time.sleep(0.3)
        for i in range(min(args.rounds, 100)):
            sent.append(time.perf_counter())
            lab.label("x/a", n=str(i))
            while len(arrived) <= i and thread.is_alive():
                time.sleep(0.0005)
        thread.join(10)
        show("Lab.label -> watch event received", [(a - s) * 1000 for s, a in zip(sent, arrived)])

        binary = kubectl_binary()
        if binary:
            env = {"KUBECONFIG": str(lab.kubeconfig), "KUBECACHEDIR": str(Path(tmp) / "cache"), "PATH": "/usr/bin"}
            subprocess.run([binary, "get", "pods", "-A"], env=env, capture_output=True, check=True)
            show("kubectl get pods -A (process, cached discovery)", timed(lambda i: subprocess.run(
                [binary, "get", "pods", "-A"], env=env, capture_output=True, check=True), min(args.rounds, 20)))
        api.close()
        print(json.dumps({"objects_served": len(lab.kube_api.store.objects), "resource_version": lab.kube_api.store.rv}))


if __name__ == "__main__":
    main()

"""Benchmark: what one learner costs on the class JupyterHub (deploy/jupyterhub), on sim and on ovs.

Prints figures; asserts nothing. Starts the hub of ``deploy/jupyterhub/jupyterhub_config.py`` on
127.0.0.1 (random free ports, a temporary directory), spawns N learners' servers, and has every
learner run the same notebooks at the same time in a kernel of their own server (cell by cell, as
Run All does; tests/hub/hub_support.py). A sampler reads /proc every 0.2 s and keeps, per learner:

* the single-user server's RSS (idle after the spawn, and peak);
* the kernel's peak RSS (VmHWM) and its CPU seconds (user + system);
* on ovs, the peak of the summed RSS of the lab's own processes (each node's ovsdb-server and
  ovs-vswitchd, the pod servers) and their CPU seconds: every process whose command line names the
  learner's lab state directory.

It also prints the fixed part (hub, proxy, trainer board) and the wall time of the notebooks. The
ovs run needs root and Open vSwitch, and must hold the machine-wide lock:

    .venv/bin/python bench/bench_classroom.py                       # 3 learners, notebook 02, sim
    flock /tmp/labkit-ovs.lock .venv/bin/python bench/bench_classroom.py --backend ovs
    .venv/bin/python bench/bench_classroom.py --learners 1 --notebooks all
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "hub"))

from hub_support import Hub, cpu_seconds, missing, rss_kib  # noqa: E402

COURSE = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
MIB = 1024.0


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    """Peak RSS and last CPU seconds per learner, of their server, kernel(s) and lab processes."""

    def __init__(self, hub: Hub, servers: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.hub, self.servers = hub, servers
        self.kernels: dict[str, set[int]] = {name: set() for name in servers}
        self.peak = {name: {"server": 0, "kernel": 0, "lab": 0} for name in servers}
        self.cpu: dict[str, dict[int, float]] = {name: {} for name in servers}
        self.lab_cpu: dict[str, dict[int, float]] = {name: {} for name in servers}
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(0.2):
            pids = _pids()
            for name, server in self.servers.items():
                labs = str(self.hub.directory / "labs" / name) + "/"
                lab_pids = [p for p in pids if labs in _cmdline(p)]
                self.peak[name]["server"] = max(self.peak[name]["server"], _status_kib(server, "VmRSS"))
                for kernel in self.kernels[name]:
                    self.peak[name]["kernel"] = max(self.peak[name]["kernel"], _status_kib(kernel, "VmHWM"))
                    try:
                        self.cpu[name][kernel] = cpu_seconds(kernel)
                    except OSError:
                        pass
                self.peak[name]["lab"] = max(self.peak[name]["lab"], sum(_status_kib(p, "VmRSS") for p in lab_pids))
                for p in lab_pids:
                    try:
                        self.lab_cpu[name][p] = cpu_seconds(p)
                    except OSError:
                        pass


def bench(backend: str, learners: int, notebooks: list[str]) -> None:
    names = [f"learner{i}" for i in range(1, learners + 1)]
    directory = Path(tempfile.mkdtemp(prefix="lkb-"))  # short: ovs sockets live under <dir>/labs/<name>
    hub = Hub(directory, learners=names)
    t0 = time.monotonic()
    hub.start()
    start_s = time.monotonic() - t0
    try:
        spawn_s = {name: hub.spawn(name) for name in names}
        time.sleep(2)  # let the servers settle before reading their idle RSS
        servers = {name: hub.server_pid(name) for name in names}
        idle = {name: rss_kib(pid) / MIB for name, pid in servers.items()}
        server_cpu0 = {name: cpu_seconds(pid) for name, pid in servers.items()}
        fixed = {"hub": rss_kib(hub.process.pid) / MIB}
        for pid in _pids():
            cmd = _cmdline(pid)
            if "configurable-http-proxy" in cmd and _parent(pid) == hub.process.pid:
                fixed["proxy"] = rss_kib(pid) / MIB
            elif "labkit.course.hub_board" in cmd and _parent(pid) == hub.process.pid:
                fixed["board"] = rss_kib(pid) / MIB
        sampler = Sampler(hub, servers)
        sampler.start()
        results: dict[str, dict] = {}

        def learner(name: str) -> None:
            wall, errors = 0.0, []
            for notebook in notebooks:
                run = _run(hub, name, notebook, backend, sampler)
                wall += run.seconds
                errors += [f"{notebook}: {e.get('ename')}: {e.get('evalue')}" for e in run.errors]
            results[name] = {"wall_s": wall, "errors": errors}

        threads = [threading.Thread(target=learner, args=(name,)) for name in names]
        t1 = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        together_s = time.monotonic() - t1
        time.sleep(0.5)
        sampler.stop_event.set()
        sampler.join()
        server_cpu = {name: cpu_seconds(pid) - server_cpu0[name] for name, pid in servers.items()}
    finally:
        stop_s = hub.stop()
        shutil.rmtree(directory, ignore_errors=True)

    print(f"\n== backend {backend}: {learners} learner(s) running {', '.join(notebooks)} at the same time "
          f"({together_s:.1f} s for all)")
    print(f"hub start {start_s:.1f} s, stop {stop_s:.1f} s; fixed part: "
          + ", ".join(f"{k} {v:.0f} MiB" for k, v in fixed.items()) + f" = {sum(fixed.values()):.0f} MiB")
    print(f"{'learner':<10} {'spawn_s':>7} {'server_idle':>11} {'server_peak':>11} {'kernel_peak':>11} "
          f"{'lab_peak':>8} {'total_peak':>10} {'cpu_kernel':>10} {'cpu_lab':>7} {'cpu_server':>10} {'wall_s':>6}  errors")
    totals = []
    for name in names:
        peak = sampler.peak[name]
        total = (peak["server"] + peak["kernel"] + peak["lab"]) / MIB
        totals.append(total)
        cpu_k = sum(sampler.cpu[name].values())
        cpu_l = sum(sampler.lab_cpu[name].values())
        print(f"{name:<10} {spawn_s[name]:>7.1f} {idle[name]:>9.0f}Mi {peak['server'] / MIB:>9.0f}Mi "
              f"{peak['kernel'] / MIB:>9.0f}Mi {peak['lab'] / MIB:>6.0f}Mi {total:>8.0f}Mi {cpu_k:>9.1f}s "
              f"{cpu_l:>6.1f}s {server_cpu[name]:>9.1f}s {results[name]['wall_s']:>6.1f}  "
              f"{'; '.join(results[name]['errors']) or '-'}")
    print(f"per learner (peak, server + kernel + lab): {min(totals):.0f}-{max(totals):.0f} MiB on {backend}")


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1


def _run(hub: Hub, name: str, notebook: str, backend: str, sampler: Sampler):
    from hub_support import NotebookRun

    run = NotebookRun(hub, name, notebook, {"BACKEND": backend, "SOLVE": True})

    # The kernel pid is the first thing the run prints; hand it to the sampler as soon as it is known.
    original = run._execute

    async def execute(kernel_id, sources, timeout_s):
        watcher = threading.Thread(target=_watch_pid, args=(run, sampler, name), daemon=True)
        watcher.start()
        await original(kernel_id, sources, timeout_s)

    run._execute = execute
    return run.run(timeout_s=900)


def _watch_pid(run, sampler: Sampler, name: str) -> None:
    deadline = time.monotonic() + 60
    while run.kernel_pid is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if run.kernel_pid:
        sampler.kernels[name].add(run.kernel_pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sim", "ovs", "both"), default="sim")
    parser.add_argument("--learners", type=int, default=3)
    parser.add_argument("--notebooks", nargs="+", default=["02-antrea-native-policies.ipynb"],
                        help="notebooks each learner runs (names in notebooks/), or 'all'")
    args = parser.parse_args()
    why = missing()
    if why:
        sys.exit(f"bench_classroom: {why}")
    notebooks = COURSE if args.notebooks == ["all"] else args.notebooks
    for backend in ("sim", "ovs") if args.backend == "both" else (args.backend,):
        bench(backend, args.learners, notebooks)


if __name__ == "__main__":
    main()

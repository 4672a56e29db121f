"""The benchmarks must keep running (small sizes, no timing asserted) and their peer parser must be right."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bench_nsx  # noqa: E402
import bench_reachability  # noqa: E402
import nca  # noqa: E402


def test_full_matrix_benchmark_runs(capsys):
    bench_reachability.bench_full_matrix(n_pods=120, n_policies=20, repeats=1)
    out = capsys.readouterr().out
    assert "120 pods" in out and "compiled rules" in out


def test_nca_connection_strings():
    f = nca.allows
    assert f("All connections")
    assert f("{protocols:TCP,dst_ports:80}")
    assert f("{protocols:TCP,dst_ports:70-90}")
    assert not f("{protocols:UDP,dst_ports:80}")
    assert not f("{protocols:TCP,dst_ports:81,8000-9100}")
    assert f("{protocols:TCP,dst_ports:81,8000-9100},{protocols:TCP,dst_ports:80}")
    assert not f("All but {protocols:TCP,dst_ports:80}")
    assert f("{protocols:UDP,dst_ports:53}", "UDP", 53) and not f("{protocols:UDP,dst_ports:53}", "TCP", 53)


def test_nsx_benchmark_runs(capsys, tmp_path):
    # real NSX mock over HTTPS on 127.0.0.1, tiny sizes (~1 s)
    bench_nsx.bench_inventory(n_pods=60, root=tmp_path / "inventory")
    figures = bench_nsx.bench_realization(changes=4, root=tmp_path / "latency")
    out = capsys.readouterr().out
    assert "60 pods" in out and "time to full consistency" in out and "PATCH -> enforced" in out
    assert figures["p99_s"] >= figures["median_s"] > 0

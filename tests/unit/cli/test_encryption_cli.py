"""``labkit encryption`` and ``labkit capture`` on a sim lab, run as real processes: the mode persists
between commands, the capture is shown as a table and written as a pcap. Runtime: about 8 s."""

import json

from labkit.encryption import dissect, read_pcap


def test_encryption_mode_persists_and_capture_follows_it(labkit, tmp_path):
    labkit("up", "--profile", "workshop")
    assert labkit("encryption").stdout.strip() == "none"
    clear = labkit("capture", "x/a", "y/a").stdout
    assert clear.startswith("# none:") and "GET / HTTP/1.1" in clear and "10.244.1.2" in clear

    assert "trafficEncryptionMode: wireGuard" in labkit("encryption", "wireGuard").stdout
    assert labkit("encryption").stdout.strip() == "wireGuard"  # saved in lab.json, resumed by the next command
    pcap = tmp_path / "wg.pcap"
    proc = labkit("capture", "x/a", "y/a", "-w", str(pcap))
    assert "emulated" in proc.stdout and "WireGuard" in proc.stdout and "GET /" not in proc.stdout
    assert f"wrote {pcap}" in proc.stderr
    linktype, records = read_pcap(pcap)
    assert linktype == 1 and records
    assert {dissect(r.data).find("udp").fields["dport"] for r in records} == {51820}
    assert b"HTTP/1.1" not in b"".join(r.data for r in records)

    labkit("encryption", "ipsec")
    frames = json.loads(labkit("capture", "x/a", "y/a", "-o", "json").stdout)
    assert frames["mode"] == "ipsec" and frames["kind"] == "emulated"
    assert {f["protocol"] for f in frames["frames"]} == {"ESP"}


def test_encryption_errors_say_how_to_fix(labkit):
    labkit("up", "--profile", "workshop")
    err = labkit("encryption", "wireguard", ok=False).stderr
    assert "did you mean 'wireGuard'" in err
    err = labkit("capture", "x/a", "x/c", ok=False).stderr  # both on kind-worker
    assert "pick pods on different Nodes" in err
    err = labkit("capture", "x/a", "nope/zz", ok=False).stderr
    assert "nope/zz" in err
    err = labkit("encryption", "--name", "nolab", ok=False).stderr
    assert "labkit up --name nolab" in err

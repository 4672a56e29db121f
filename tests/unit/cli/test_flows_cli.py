"""``labkit flows`` on a sim lab, run as real processes: traffic for --duration seconds, then the flow
records filtered like ``antctl get flowrecords``. Runtime: about 10 s (five processes)."""

import json


def test_flows_runs_traffic_and_filters_like_antctl(labkit):
    labkit("up", "--profile", "shop")
    table = labkit("flows", "--duration", "30", "--seed", "1").stdout
    assert table.splitlines()[0].split()[:4] == ["SOURCE", "DESTINATION", "DPORT", "PROTO"]
    assert "backend/api:http" in table and "TIME_WAIT" in table and " drop" not in table  # no policy yet
    labkit("apply", "-f", "notebooks/policies/04-baseline-deny.yaml")
    dropped = json.loads(labkit("flows", "--action", "drop", "-n", "data", "-o", "json").stdout)
    assert dropped and {f["verdict"] for f in dropped} == {"drop"}
    assert all("data" in (f["sourcePodNamespace"], f["destinationPodNamespace"]) for f in dropped)
    assert {f["ingressNetworkPolicyName"] for f in dropped} == {"default-deny"}
    redis = labkit("flows", "--pod", "data/redis", "--per-node", "-o", "csv").stdout.splitlines()
    assert redis[0].startswith("exporter,exportTime,") and len(redis) > 1
    assert all("redis" in line for line in redis[1:])
    assert "No flows found." in labkit("flows", "--policy", "no-such-policy").stdout


def test_flows_errors_say_how_to_fix(labkit, tmp_path):
    labkit("up", "--profile", "workshop")
    err = labkit("flows", "--traffic", "nope", ok=False).stderr
    assert "no traffic profile 'nope'" in err and "TrafficProfile YAML" in err
    err = labkit("flows", ok=False).stderr  # the shop's profile does not fit the workshop's pods
    assert "matches no Pod" in err and "lab.pods" in err
    err = labkit("flows", "--name", "nolab", ok=False).stderr
    assert "labkit up --name nolab" in err

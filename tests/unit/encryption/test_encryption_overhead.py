"""Per-packet overhead, measured from the frames labkit builds, against the RFC arithmetic."""

from __future__ import annotations

import pytest

from labkit.encryption import (
    mtu_table,
    overhead,
    overhead_breakdown,
    overhead_table,
    pod_mtu,
)

SIZES = [40, 41, 42, 43, 99, 100, 576, 1399, 1400]


@pytest.mark.parametrize("n", SIZES)
def test_geneve_adds_50_bytes(n):
    result = overhead("none", n)
    assert result["overhead"] == 50 and result["wire_len"] == n + 50
    assert result["parts"] == {"outer IPv4": 20, "UDP": 8, "Geneve": 8, "inner Ethernet": 14}


@pytest.mark.parametrize("n", SIZES)
def test_wireguard_adds_60_bytes_plus_padding_to_16(n):
    # IPv4 20 + UDP 8 + WireGuard header 16 + Poly1305 tag 16, plaintext zero-padded to 16 (whitepaper §5.4.6)
    result = overhead("wireGuard", n)
    assert result["overhead"] == 60 + (-n % 16)
    assert result["parts"]["padding to 16"] == -n % 16 and result["parts"]["Poly1305 tag"] == 16


@pytest.mark.parametrize("n", SIZES)
def test_esp_adds_its_fields_on_top_of_geneve(n):
    # ESP 8 + IV 8 + (pad + 2) + ICV 16 around UDP+Geneve+inner Ethernet+packet (RFC 4303/4106),
    # the pad aligning pad length + next header on 4 bytes
    protected = 8 + 8 + 14 + n
    pad = -(protected + 2) % 4
    assert overhead("ipsec", n)["overhead"] == 50 + 8 + 8 + pad + 2 + 16
    assert overhead("ipsec", n, esp_mode="tunnel")["overhead"] == 20 + 50 + 8 + 8 + (-(20 + protected + 2) % 4) + 2 + 16


def test_breakdown_parts_add_up():
    frame = overhead_breakdown(100)
    for mode, rows in frame.groupby("mode"):
        parts = rows[rows.part != "total"]["bytes"].sum()
        assert parts == rows[rows.part == "total"]["bytes"].item(), mode


def test_tables():
    table = overhead_table((40, 1400))
    assert table.loc["none"].tolist() == [50, 50] and table.loc["wireGuard", "1400 B"] == 68
    mtus = mtu_table()
    assert mtus.loc["none"].tolist() == [1450, 1450]
    assert mtus.loc["wireGuard", "Antrea pod MTU"] == 1420  # 1500 - WireGuardOverhead 80


def test_largest_pod_packet_that_fits():
    assert pod_mtu("none") == 1450
    assert pod_mtu("wireGuard") == 1440  # 1440 + 60 = 1500 and 1440 is a multiple of 16
    n = pod_mtu("ipsec")
    assert overhead("ipsec", n)["wire_len"] <= 1500 < overhead("ipsec", n + 1)["wire_len"]

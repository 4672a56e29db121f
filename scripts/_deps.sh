#!/usr/bin/env bash
# Shared by scripts/lab and scripts/test: create the project venv and install labkit into it.
# System packages are installed only when asked (root on Debian/Ubuntu), so a laptop without root
# still gets the `sim` backend.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LABKIT_VENV:-$ROOT/.venv}"

# Debian packages the ovs backend, encryption, captures and the browser test need.
SYSTEM_PACKAGES=(python3 python3-venv python3-pip openvswitch-switch openvswitch-common mininet
                 iproute2 ethtool iputils-ping wireguard-go wireguard-tools tshark iperf3
                 chromium nftables procps psmisc
                 strongswan-charon strongswan-swanctl libcharon-extra-plugins
                 libstrongswan-standard-plugins libstrongswan-extra-plugins)

install_system_packages() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "labkit: not root or no apt-get: skipping system packages (the sim backend needs none)" >&2
    return 0
  fi
  local missing=()
  for p in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "labkit: installing system packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture; answer once, non-interactively.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections || true
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # The Debian package starts the system OVS; labkit never uses it (each lab node runs a private
  # ovsdb-server/ovs-vswitchd), so nothing else needs starting here.
}

ensure_python() {
  # A fresh Debian has python3 but may lack venv/pip; as root we add them, else we say what to do.
  if python3 -c 'import venv, ensurepip' 2>/dev/null; then return 0; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
  else
    echo "labkit: python3 with venv is needed: sudo apt-get install python3-venv" >&2
    exit 1
  fi
}

# make_venv EXTRAS: the project venv with labkit (editable) and EXTRAS installed. pip runs only when
# something changed since the last install: the stamp $VENV/.labkit-stamp-EXTRAS holds a hash of
# pyproject.toml, the checkout's path and the venv's Python; LABKIT_REINSTALL=1 forces a reinstall.
# The test extras include the lab extras, so a venv made by scripts/test also serves scripts/lab.
make_venv() {
  local extras="$1"
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
  fi
  local want
  want="$(install_fingerprint)"
  local stamp
  for stamp in "$VENV/.labkit-stamp-$extras" $([ "$extras" = lab ] && echo "$VENV/.labkit-stamp-test"); do
    if [ -z "${LABKIT_REINSTALL:-}" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
      echo "labkit: $VENV is up to date (pyproject.toml unchanged since the last install)" >&2
      return 0
    fi
  done
  echo "labkit: installing labkit[$extras] into $VENV ..." >&2
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install -q -e "$ROOT[$extras]"
  echo "$want" > "$VENV/.labkit-stamp-$extras"
}

install_fingerprint() {
  local version
  version="$("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])')"
  printf '%s %s %s\n' "$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)" "$ROOT" "$version"
}

# configurable-http-proxy (JupyterHub's proxy, an npm package) into deploy/jupyterhub/node_modules,
# at the version deploy/jupyterhub/package-lock.json pins, for the JupyterHub test. As root on
# Debian without npm, Debian's nodejs and npm are installed first; elsewhere a missing npm only
# means that test skips.
install_node_packages() {
  local dir="$ROOT/deploy/jupyterhub"
  if [ -x "$dir/node_modules/.bin/configurable-http-proxy" ]; then return 0; fi
  if ! command -v npm >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
    else
      echo "labkit: npm not found: skipping configurable-http-proxy (the JupyterHub test will skip)" >&2
      return 0
    fi
  fi
  echo "labkit: installing configurable-http-proxy into $dir/node_modules ..." >&2
  npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
}

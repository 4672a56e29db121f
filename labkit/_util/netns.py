"""Enter network namespaces per *thread* (setns(2)), and small netns-local ioctls.

Python 3.11 has no ``os.setns``, so libc's is called through ctypes. setns(CLONE_NEWNET) only
moves the calling thread, so a worker thread can create a socket inside a pod's namespace and
return: the socket stays bound to that namespace for its whole life (this is how one prober or
one server process handles many pods without one process per pod).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import os
import socket
import struct
from pathlib import Path
from collections.abc import Iterator

from ..errors import CommandError, CommandFailure

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = Path("/run/netns")  # where `ip netns add` bind-mounts named namespaces
SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x00000017  # legacy "set TX checksum offload" (ethtool -K <dev> tx on|off)

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def netns_path(name: str) -> Path:
    return NETNS_RUN_DIR / name


@contextlib.contextmanager
def entered(name: str) -> Iterator[None]:
    """Run the body with the *current thread* inside network namespace ``name``; always come back."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        try:
            target = os.open(netns_path(name), os.O_RDONLY)
        except FileNotFoundError as exc:
            raise CommandError(f"network namespace {name!r} does not exist (is the lab running?)",
                               CommandFailure(["setns", name], None, str(exc))) from exc
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


def socket_in(name: str, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket created inside namespace ``name`` (usable from any thread afterwards)."""
    with entered(name):
        return socket.socket(family, kind, proto)


def set_tx_checksum(name: str, ifname: str, on: bool) -> None:
    """``ip netns exec <name> ethtool -K <ifname> tx on|off`` without forking ethtool.

    The userspace (netdev) datapath does not fill in checksums that veth left to offload, so TCP
    through it silently fails unless TX checksumming is off on both veth ends (feasibility.md §1).
    """
    with entered(name):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            value = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, 1 if on else 0))
            ifreq = struct.pack("16sP", ifname.encode()[:15], ctypes.addressof(value))
            try:
                fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
            except OSError as exc:
                raise CommandError(f"ethtool -K {ifname} tx {'on' if on else 'off'} failed in netns {name}: {exc}",
                                   CommandFailure(["ethtool", "-K", ifname, "tx", "on" if on else "off"],
                                                  exc.errno, str(exc))) from exc


def sctp_supported(name: str | None = None) -> bool:
    """Can a SCTP socket be created (in namespace ``name``, or here)? False on kernels without SCTP."""
    try:
        if name is None:
            socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP).close()
        else:
            socket_in(name, socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP).close()
        return True
    except OSError:
        return False


__all__ = ["entered", "socket_in", "set_tx_checksum", "sctp_supported", "netns_path", "NETNS_RUN_DIR"]

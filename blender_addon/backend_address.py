"""Checking a backend address before anything is sent to it.

Blender 4.2+ lets users switch off all network access by add-ons (``bpy.app.online_access``). A
backend on this computer is not "online", so it always works; anything else is refused while online
access is off, with a sentence saying how to turn it on.
"""

from __future__ import annotations

import ipaddress
import re

_TCP = re.compile(r"^tcp://(?P<host>\[[^\]]+\]|[^:/\s]+):(?P<port>\d{1,5})$")


class AddressError(ValueError):
    """An address the add-on will not use; the message says why and what to do."""


def is_loopback(address: str) -> bool:
    """True for ipc:// and tcp:// addresses on this computer (127.0.0.0/8, ::1, localhost)."""
    if address.startswith("ipc://"):
        return True
    match = _TCP.match(address)
    if match is None:
        return False
    host = match["host"].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it could resolve anywhere


def check_address(address: str, *, online_access: bool) -> str:
    """The address, stripped, if it may be used now; raises :class:`AddressError` otherwise."""
    address = address.strip()
    match = _TCP.match(address)
    if not (len(address) > len("ipc://") and address.startswith("ipc://")) and not (match and 0 < int(match["port"]) < 65536):
        raise AddressError(
            f"The backend address '{address}' is not a ZeroMQ address: write it like tcp://127.0.0.1:5555 "
            "(host and port where `tpc-backend serve` listens)."
        )
    if not online_access and not is_loopback(address):
        raise AddressError(
            f"Online access is off in Blender, so TPC Animate will not contact the backend at {address}: "
            "allow it under Edit > Preferences > System > Network (or start Blender with --online-mode), "
            "or use a backend on this computer (tcp://127.0.0.1:5555)."
        )
    return address

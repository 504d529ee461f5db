"""The systemd notification protocol (sd_notify(3)), without a dependency: one
datagram of ``KEY=VALUE`` lines to the Unix socket named by ``$NOTIFY_SOCKET`` (a
path, or an abstract socket name when it starts with ``@``). Without the variable
every call does nothing, so the server runs the same outside systemd.

``serve`` sends ``READY=1`` once the listeners are bound (``Type=notify`` units wait
for it), ``RELOADING=1`` and ``READY=1`` around a reload, ``STOPPING=1`` when it
begins to stop, and a ``STATUS=`` line that ``systemctl status`` shows."""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)


def notify_address(value: str | None = None) -> str | bytes | None:
    """The socket address in ``$NOTIFY_SOCKET`` (or *value*): a path, or the bytes of
    an abstract name (``@`` becomes the leading NUL); None when unset or unusable."""
    value = os.environ.get("NOTIFY_SOCKET") if value is None else value
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None     # vsock and relative paths are not used by systemd for services


def notify(*fields: str) -> bool:
    """Send the *fields* (``"READY=1"``, ``"STATUS=..."``) in one datagram; True when
    sent. Failures are logged and never raised: telling systemd is not worth dying for."""
    address = notify_address()
    if address is None or not fields:
        return False
    payload = "\n".join(fields).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(payload)
    except OSError as exc:
        log.warning("cannot notify systemd at %s: %s", os.environ.get("NOTIFY_SOCKET"), exc)
        return False
    return True


def ready(status: str) -> bool:
    """``READY=1`` with a ``STATUS=`` line."""
    return notify("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")


def reloading() -> bool:
    """``RELOADING=1`` (systemd 253 wants the monotonic time with it)."""
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify("RELOADING=1", f"MONOTONIC_USEC={usec}")


def stopping(status: str = "stopping: finishing queries in flight") -> bool:
    """``STOPPING=1`` with a ``STATUS=`` line."""
    return notify("STOPPING=1", f"STATUS={status}")


def status(text: str) -> bool:
    """Only a ``STATUS=`` line."""
    return notify(f"STATUS={text}")

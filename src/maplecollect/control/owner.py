"""Owner ids of supervisors, and telling whether an owner on this host has died."""

from __future__ import annotations

import os
import secrets
import socket


def new_owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def is_dead_local_owner(owner: str, *, me: str) -> bool:
    """True when `owner` ran on this host in a process that no longer exists.

    Owners on other hosts are judged by their heartbeat age instead.
    """
    host, _, rest = owner.partition(":")
    pid_text, _, _token = rest.partition(":")
    if owner == me or host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        # An earlier supervisor of this very process that was never closed.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False

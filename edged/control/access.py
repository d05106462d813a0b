"""Who may use the control socket: root, the daemon's own user, and one group.

The file mode (0660, group-owned) is the first gate; the peer's credentials,
read from the kernel (SO_PEERCRED) when it connects, are the second, so a
socket made too open by mistake still refuses strangers. The decision is a pure
function of numbers; the lookups around it are thin wrappers over ``pwd``/``grp``.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
import struct
from collections.abc import Collection
from dataclasses import dataclass

_CRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass(frozen=True, slots=True)
class Peer:
    pid: int
    uid: int
    gid: int


@dataclass(frozen=True, slots=True)
class Policy:
    """``gid``: the allowed group; ``owner_uid``: the daemon's own user."""

    gid: int
    owner_uid: int


def decide(peer: Peer, policy: Policy, groups: Collection[int]) -> str | None:
    """None when ``peer`` may connect, else the reason it may not.

    ``groups``: the peer user's supplementary groups (from the group database).
    """
    if peer.uid in (0, policy.owner_uid):
        return None
    if peer.gid == policy.gid or policy.gid in groups:
        return None
    return (f"permission denied: uid {peer.uid} is neither root nor a member of group "
            f"{group_name(policy.gid)}")


# --------------------------------------------------------------------------- lookups


class GroupError(ValueError):
    """The configured group does not exist."""


def resolve_group(name: str | None) -> int:
    """The gid for ``control.group``: a name, a number, or None (our own group)."""
    if name is None:
        return os.getegid()
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        if name.isdigit():
            return int(name)
        raise GroupError(f"control.group: no group named {name!r} on this system") from None


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def member_groups(uid: int) -> frozenset[int]:
    """The groups the user ``uid`` belongs to (primary and supplementary), per the
    group database: a peer's own supplementary list is not in SO_PEERCRED, and
    other users' /proc entries are hidden from the service (ProtectProc)."""
    try:
        user = pwd.getpwuid(uid)
    except KeyError:
        return frozenset()
    try:
        return frozenset(os.getgrouplist(user.pw_name, user.pw_gid))
    except OSError:
        return frozenset({user.pw_gid})


def peer_of(sock: socket.socket) -> Peer:
    """The connecting process's credentials, as the kernel recorded them at connect."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CRED.size)
    pid, uid, gid = _CRED.unpack(raw)
    return Peer(pid, uid, gid)

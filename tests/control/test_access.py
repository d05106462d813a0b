"""Who may connect: the pure decision, and the real user/group database lookups."""

from __future__ import annotations

import grp
import os
import pwd

import pytest

from edged.control.access import (
    GroupError,
    Peer,
    Policy,
    decide,
    group_name,
    member_groups,
    resolve_group,
)

POLICY = Policy(gid=990, owner_uid=995)


def test_root_and_the_daemons_own_user_may() -> None:
    assert decide(Peer(1, 0, 0), POLICY, ()) is None
    assert decide(Peer(1, 995, 12), POLICY, ()) is None


def test_group_members_may_by_primary_or_supplementary_group() -> None:
    assert decide(Peer(1, 1000, 990), POLICY, ()) is None
    assert decide(Peer(1, 1000, 1000), POLICY, (1000, 990, 27)) is None


def test_anyone_else_is_refused_with_a_reason() -> None:
    reason = decide(Peer(1, 1000, 1001), POLICY, (1001, 27))
    assert reason is not None
    assert reason.startswith("permission denied: uid 1000 is neither root nor a member of group")


def test_a_uid_and_a_gid_are_never_confused() -> None:
    """Numbers that would let the peer in if read as the other kind."""
    assert decide(Peer(1, 1000, 0), POLICY, ()) is not None  # root's group, not root
    assert decide(Peer(1, 1000, 995), POLICY, ()) is not None  # the owner's number as a gid
    assert decide(Peer(1, 990, 1000), POLICY, ()) is not None  # the group's number as a uid


def test_group_resolution() -> None:
    assert resolve_group(None) == os.getegid()
    root_group = grp.getgrgid(0).gr_name
    assert resolve_group(root_group) == 0
    assert resolve_group("4242") == 4242  # a gid with no name is taken as a number
    with pytest.raises(GroupError, match="no group named 'no-such-group-x'"):
        resolve_group("no-such-group-x")
    assert group_name(0) == root_group
    assert group_name(4242) == "4242"


def test_membership_comes_from_the_group_database() -> None:
    """A real user that is listed as a member of a group other than its own."""
    for g in grp.getgrall():
        for name in g.gr_mem:
            try:
                user = pwd.getpwnam(name)
            except KeyError:
                continue
            if user.pw_gid != g.gr_gid:
                groups = member_groups(user.pw_uid)
                assert g.gr_gid in groups and user.pw_gid in groups
                return
    pytest.skip("no user on this system is a supplementary member of any group")


def test_unknown_uid_has_no_groups() -> None:
    assert member_groups(2**31 - 2) == frozenset()

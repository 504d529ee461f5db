"""Privilege drop for ``serve``: bind the ports as root, then become the configured
``user`` (its primary group, no supplementary groups). It fails closed: when a drop
was asked for and cannot be done (no such user, not root, the kernel refused, or root
could be regained afterwards), :class:`PrivilegeError` is raised and ``serve`` exits
instead of serving as root."""

from __future__ import annotations

import grp
import logging
import os
import pwd
from dataclasses import dataclass

log = logging.getLogger(__name__)


class PrivilegeError(RuntimeError):
    """The switch to the configured user failed; the message says why."""


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    uid: int
    gid: int
    group: str


def lookup(user: str) -> Account:
    """The account of *user* (a name, or a number); raises PrivilegeError if unknown."""
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except (KeyError, OverflowError):
        raise PrivilegeError(f"user: no such user {user!r} on this system") from None
    try:
        group = grp.getgrgid(entry.pw_gid).gr_name
    except KeyError:
        group = str(entry.pw_gid)
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, group)


def drop_privileges(user: str) -> Account:
    """Become *user*: no supplementary groups, its group, then its user id (in that
    order: a process that gave up root can no longer change groups). Running as that
    user already is accepted; anything else that leaves us not being it raises."""
    account = lookup(user)
    if os.getuid() == account.uid and os.geteuid() == account.uid:
        return account                  # started as that user (systemd User=, say)
    if os.geteuid() != 0:
        raise PrivilegeError(f"user: cannot switch to {account.name!r}: running as uid "
                             f"{os.geteuid()}, not root")
    try:
        os.setgroups([])
        os.setgid(account.gid)
        os.setuid(account.uid)
    except OSError as exc:
        raise PrivilegeError(f"user: cannot switch to {account.name!r}: {exc.strerror}") \
            from None
    if (os.getuid(), os.geteuid()) != (account.uid, account.uid) or \
            (os.getgid(), os.getegid()) != (account.gid, account.gid):
        raise PrivilegeError(f"user: switch to {account.name!r} incomplete")
    if account.uid != 0:
        try:
            os.setuid(0)
        except OSError:
            pass                        # as it must be: root cannot be regained
        else:
            raise PrivilegeError(f"user: root regained after switching to {account.name!r}")
    log.info("running as user %s (uid %d), group %s (gid %d)", account.name, account.uid,
             account.group, account.gid)
    return account

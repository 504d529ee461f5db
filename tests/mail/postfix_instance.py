"""A private Postfix instance for tests: its own config, queue and data directories in a
temporary directory, smtpd on a loopback port, and virtual(8) delivery into a Maildir
there. Started with ``postfix -c DIR start-fg`` (the master daemon stays a child of the
test) and stopped with ``postfix -c DIR stop``, then by signal if it lingers.

Needs root (the master daemon drops to ``mail_owner``), as CI runs; otherwise the
tests skip with the reason.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"

MASTER_CF = """\
{port}    inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def unavailable() -> str | None:
    """Why a private Postfix cannot run here, or None."""
    if not os.path.exists(POSTFIX):
        return "postfix is not installed (CI installs it)"
    if os.geteuid() != 0:
        return "a private Postfix instance needs root (its master drops to mail_owner)"
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return "no postfix user (the Debian package creates it)"
    return None


class PostfixInstance:
    def __init__(self, base: Path, port: int, milter: tuple[str, int],
                 recipient: str = "bob@example.org") -> None:
        self.base = base
        self.port = port
        self.milter = milter
        self.recipient = recipient
        self.config = base / "etc"
        self.queue = base / "spool"
        self.data = base / "data"
        self.mail = base / "mail"
        self.log = base / "maillog"
        self.proc: subprocess.Popen[bytes] | None = None

    def write_config(self) -> None:
        pw = pwd.getpwnam("postfix")
        os.chmod(self.base, 0o755)      # mail_owner must reach data/ and mail/
        for d in (self.config, self.queue, self.data, self.mail):
            d.mkdir(parents=True, exist_ok=True)
        for d in (self.data, self.mail):
            os.chown(d, pw.pw_uid, pw.pw_gid)
        domain = self.recipient.rpartition("@")[2]
        main = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue),
            "data_directory": str(self.data),
            "mail_owner": "postfix",
            "myhostname": "mx.test.invalid",
            "mydomain": "test.invalid",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "maillog_file": str(self.log),
            "maillog_file_prefixes": str(self.base),
            "smtpd_authorized_xclient_hosts": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_milters": f"inet:{self.milter[0]}:{self.milter[1]}",
            "milter_default_action": "tempfail",
            "milter_protocol": "6",
            "disable_dns_lookups": "yes",
            "smtp_dns_support_level": "disabled",
            "smtpd_peername_lookup": "no",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "virtual_mailbox_domains": domain,
            "virtual_mailbox_base": str(self.mail),
            "virtual_mailbox_maps": f"inline:{{ {self.recipient}=bob/ }}",
            "virtual_uid_maps": f"static:{pw.pw_uid}",
            "virtual_gid_maps": f"static:{pw.pw_gid}",
            "virtual_minimum_uid": "1",
            "shlib_directory": "/usr/lib/postfix",
            "meta_directory": "/etc/postfix",
        }
        text = "".join(f"{k} = {v}\n" for k, v in main.items())
        (self.config / "main.cf").write_text(text)
        (self.config / "master.cf").write_text(MASTER_CF.format(port=f"127.0.0.1:{self.port}"))

    def start(self, timeout: float = 30.0) -> None:
        self.write_config()
        env = {k: v for k, v in os.environ.items() if k != "MAIL_CONFIG"}
        self.proc = subprocess.Popen([POSTFIX, "-c", str(self.config), "start-fg"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        import socket
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""
                raise RuntimeError(f"postfix exited with {self.proc.returncode}: {out}"
                                   f"{self.logtext()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"postfix did not listen on port {self.port} in {timeout} s"
                           f"{self.logtext()}")

    def logtext(self) -> str:
        try:
            return "\n" + self.log.read_text()[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        subprocess.run([POSTFIX, "-c", str(self.config), "stop"], capture_output=True,
                       timeout=30, check=False)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def delivered(self, timeout: float = 30.0, count: int = 1) -> list[bytes]:
        """The messages in the Maildir, once *count* are there (bounded wait)."""
        new = self.mail / "bob" / "new"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if new.is_dir():
                files = sorted(new.iterdir())
                if len(files) >= count:
                    return [f.read_bytes() for f in files]
            time.sleep(0.1)
        raise AssertionError(f"no delivery within {timeout} s{self.logtext()}")

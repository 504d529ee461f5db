"""The SMIMEA/OPENPGPKEY owner-name vectors (``tests/data/mail/smimea/owner-name-vectors.json``).

``from_rfc`` holds RFC 7929 s3's own example (and the same name under ``_smimecert``);
``computed_here`` holds local parts hashed verbatim with hashlib (case variant, ``+tag``,
dotted, non-ASCII). Every expected name is compared with :func:`smimea_owner` /
:func:`openpgpkey_owner` as a :class:`~resolver.wire.name.Name` (case-insensitive, as DNS
names are) and, for the hash label, exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

from resolver.mail.smimea import openpgpkey_owner, smimea_owner
from resolver.wire.name import Name

VECTORS = (Path(__file__).resolve().parent.parent / "data" / "mail" / "smimea"
           / "owner-name-vectors.json")


def load_vectors(path: Path = VECTORS) -> list[tuple[str, str, str]]:
    """``(address, kind, expected owner)`` flattened: kind is smimea/openpgpkey."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    out: list[tuple[str, str, str]] = []
    for entry in doc["from_rfc"]:
        for kind in ("smimea", "openpgpkey"):
            if kind in entry:
                out.append((entry["address"], kind, entry[kind]))
    for entry in doc["computed_here"]:
        address = f"{entry['local_part']}@{entry['domain']}"
        for kind in ("smimea", "openpgpkey"):
            if kind in entry:
                out.append((address, kind, entry[kind]))
    return out


def run_smimea_names_suite() -> tuple[int, int, list[str]]:
    """Returns ``(passed, failed, details of failures)``."""
    passed = failed = 0
    details: list[str] = []
    for address, kind, expected in load_vectors():
        func = smimea_owner if kind == "smimea" else openpgpkey_owner
        try:
            got = func(address)
            want = Name.from_text(expected)
            ok = got == want and got.labels[0] == want.labels[0]
            note = got.to_text()
        except Exception as exc:  # noqa: BLE001 - a crash is a failed vector
            ok = False
            note = f"{type(exc).__name__}: {exc}"
        if ok:
            passed += 1
        else:
            failed += 1
            details.append(f"{kind} {address!r}: expected {expected}, got {note}")
    return passed, failed, details


if __name__ == "__main__":
    p, f, d = run_smimea_names_suite()
    print(f"smimea-names: {p} passed, {f} failed")
    for line in d:
        print("  " + line)

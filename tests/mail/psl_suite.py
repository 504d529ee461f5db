"""The official Public Suffix List test vectors (``test_psl.txt``, CC0) as a runner.

Each ``checkPublicSuffix(input, expected)`` line gives the registrable domain
(public suffix plus one label), which is the Organizational Domain of RFC 7489
s3.2. Cases with a null expected value (the input is itself a public suffix, or
is malformed with a leading dot) are run too: :func:`registrable_domain` must
return None. The null *input* case has no meaning for a typed API and is skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

from resolver.mail.psl import Psl, registrable_domain
from resolver.wire.name import Name

DATA = Path(__file__).resolve().parent.parent / "data" / "mail" / "dmarc" / "psl"
TEST_FILE = DATA / "test_psl.txt"
SNAPSHOT = DATA / "public_suffix_list.dat"

_LINE = re.compile(r"^checkPublicSuffix\((null|'[^']*'),\s*(null|'[^']*')\);")


def load_cases(path: Path = TEST_FILE) -> list[tuple[str, str | None]]:
    """The ``(input, expected)`` pairs with a non-null input, in file order."""
    cases: list[tuple[str, str | None]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _LINE.match(line.strip())
        if not m or m.group(1) == "null":
            continue
        expected = None if m.group(2) == "null" else m.group(2)[1:-1]
        cases.append((m.group(1)[1:-1], expected))
    return cases


def _to_name(text: str) -> Name:
    return Name.from_text(text.encode("idna").decode("ascii") + ".")


def run_psl_suite(psl: Psl | None = None) -> tuple[int, int, list[str]]:
    """Run every non-null-input case against *psl* (default: the bundled test
    snapshot). Non-null cases also check :meth:`Psl.org_domain` as a Name.
    Returns ``(passed, failed, details of failures)``."""
    psl = psl or Psl.from_file(SNAPSHOT)
    passed = failed = 0
    details: list[str] = []
    for given, expected in load_cases():
        got = registrable_domain(given, psl=psl)
        ok = got == (expected.lower() if expected else None)
        if ok and expected is not None:
            ok = psl.org_domain(given) == _to_name(expected)
        if ok:
            passed += 1
        else:
            failed += 1
            details.append(f"{given!r}: expected {expected!r}, got {got!r}")
    return passed, failed, details


if __name__ == "__main__":
    p, f, d = run_psl_suite()
    print(f"psl: {p} passed, {f} failed")
    for line in d:
        print("  " + line)

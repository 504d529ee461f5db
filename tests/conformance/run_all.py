"""Run every .rpl suite (``make conformance``) and check the expected-failure list.

Prints the failures with their reasons, then one line per suite in the form
``rpl-unbound: N passed, M failed`` (the semantic comparator decides), the strict
comparator's counts, how many scenarios ran with QNAME minimisation and with IPv6 on
(each runs with its own settings, see replay.run_settings), the counts per
MANIFEST.tsv tier, and the verdict on expected_failures.txt. Exits non-zero when a
listed scenario passes (take it off the list), an unlisted one fails, the list names
a file that does not exist or a Tier A file, or Tier B falls below 90 %.

Usage: ``python tests/conformance/run_all.py [-v] [--qmin on|off]`` (``--qmin``: for
the Deckard files that leave QNAME minimisation open; QMIN in the environment also
sets it, as in Deckard).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.conformance.replay import (
    RPL_DIR,
    Result,
    replay,
    report_line,
    settings_totals,
    totals,
)

HERE = Path(__file__).resolve().parent
EXPECTED_FAILURES = HERE / "expected_failures.txt"
MANIFEST = RPL_DIR / "MANIFEST.tsv"
SUITES = ("unbound", "deckard")
TIER_B_TARGET = 0.90


def scenario_files() -> list[Path]:
    """Every scenario, suite by suite."""
    return [p for suite in SUITES for p in sorted((RPL_DIR / suite).glob("*.rpl"))]


def scenario_name(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def read_manifest(path: Path = MANIFEST) -> dict[str, str]:
    """``set/file`` -> tier ("A" or "B")."""
    tiers: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        cols = line.split("\t")
        if number == 0 or len(cols) < 3:
            continue
        tiers[f"{cols[0]}/{cols[1]}"] = cols[2]
    return tiers


def read_expected_failures(path: Path = EXPECTED_FAILURES) -> dict[str, str]:
    """``set/file`` -> reason. One scenario per line, then its reason; ``#`` comments."""
    out: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition(" ")
        if not reason.strip():
            raise ValueError(f"{path.name}:{number}: {name} has no reason")
        if name in out:
            raise ValueError(f"{path.name}:{number}: {name} is listed twice")
        out[name] = reason.strip()
    return out


@dataclass(slots=True)
class Check:
    """The verdict of a run against the expected-failure list and the tier targets."""

    unexpected_failures: list[Result] = field(default_factory=list)
    unexpected_passes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)     # list/manifest errors, targets

    @property
    def ok(self) -> bool:
        return not (self.unexpected_failures or self.unexpected_passes or self.problems)

    def lines(self) -> list[str]:
        out = [f"UNEXPECTED FAIL {r.name}: {r.semantic.reason}"
               for r in self.unexpected_failures]
        out += [f"UNEXPECTED PASS {name}: take it off expected_failures.txt"
                for name in self.unexpected_passes]
        out += [f"PROBLEM {text}" for text in self.problems]
        return out


def tier_counts(results: Iterable[Result], tiers: dict[str, str], tier: str,
                strict: bool = False) -> tuple[int, int]:
    chosen = [r for r in results if tiers.get(r.name) == tier]
    passed = sum(1 for r in chosen if (r.strict.ok if strict else r.semantic.ok))
    return passed, len(chosen)


def check(results: list[Result], expected: dict[str, str], tiers: dict[str, str],
          names: Iterable[str] | None = None) -> Check:
    """Compare *results* with the *expected* failures. *names*: every scenario that
    exists (for stale list entries); defaults to the names of the results."""
    verdict = Check()
    existing = set(names) if names is not None else {r.name for r in results}
    ran = {r.name for r in results}
    for name in sorted(expected):
        if name not in existing:
            verdict.problems.append(f"{name} is listed but there is no such scenario")
        elif tiers.get(name) == "A":
            verdict.problems.append(f"{name} is Tier A, which must pass: it cannot be listed")
    for result in results:
        if result.passed and result.name in expected:
            verdict.unexpected_passes.append(result.name)
        elif not result.passed and result.name not in expected:
            verdict.unexpected_failures.append(result)
    if existing <= ran:   # a full run: the tier targets apply
        passed, total = tier_counts(results, tiers, "A")
        if passed != total:
            verdict.problems.append(f"Tier A: {passed}/{total} passed, all must pass")
        passed, total = tier_counts(results, tiers, "B")
        if total and passed < TIER_B_TARGET * total:
            verdict.problems.append(f"Tier B: {passed}/{total} passed, below "
                                    f"{TIER_B_TARGET:.0%}")
    return verdict


def summary(results: list[Result], tiers: dict[str, str]) -> list[str]:
    lines = [totals(results, f"rpl-{suite}") for suite in SUITES]
    lines += [totals(results, f"rpl-{suite}", strict=True) for suite in SUITES]
    lines += [settings_totals(results, f"rpl-{suite}") for suite in SUITES]
    for tier in ("A", "B"):
        passed, total = tier_counts(results, tiers, tier)
        strict, _ = tier_counts(results, tiers, tier, strict=True)
        if total:
            lines.append(f"tier {tier}: {passed}/{total} passed ({passed / total:.1%}), "
                         f"strict {strict}/{total}")
    return lines


def run(paths: list[Path], open_qmin: bool | None = None) -> list[Result]:
    return [replay(p, open_qmin) for p in paths]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="list every scenario, not only the failing ones")
    parser.add_argument("--qmin", choices=("on", "off"),
                        help="QNAME minimisation for the files that leave it open "
                             "(default: QMIN from the environment, else on)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    paths = scenario_files()
    results = run(paths, None if args.qmin is None else args.qmin == "on")
    expected = read_expected_failures()
    tiers = read_manifest()
    for result in results:
        if args.verbose or not result.passed:
            line = report_line(result)
            if result.name in expected:
                line += f"\n    expected: {expected[result.name]}"
            print(line)
    for line in summary(results, tiers):
        print(line)
    verdict = check(results, expected, tiers, [scenario_name(p) for p in paths])
    for line in verdict.lines():
        print(line)
    listed_failing = sum(1 for r in results if not r.passed and r.name in expected)
    print(f"expected failures: {len(expected)} listed, {listed_failing} failed as expected; "
          f"{'OK' if verdict.ok else 'NOT OK'} ({time.perf_counter() - started:.1f} s)")
    mail_ok = run_mail_suites()
    return 0 if verdict.ok and mail_ok else 1


def run_mail_suites() -> bool:
    """The mail conformance suites, one line each; they have no expected failures."""
    from tests.mail.dane_suite import run_openssl_suite
    from tests.mail.dkim_suite import run_dkim_vectors
    from tests.mail.dmarc_suite import run_dmarc_cases
    from tests.mail.psl_suite import run_psl_suite
    from tests.mail.smimea_suite import run_smimea_names_suite
    from tests.mail.spf_suite import run_spf_suite

    suites = [("dane-openssl", run_openssl_suite), ("smimea-names", run_smimea_names_suite),
              ("spf-rfc7208", run_spf_suite), ("dkim-vectors", run_dkim_vectors),
              ("psl", run_psl_suite), ("dmarc", run_dmarc_cases)]
    ok = True
    for title, runner in suites:
        passed, failed, details = runner()
        print(f"{title}: {passed} passed, {failed} failed")
        if failed:
            ok = False
            for line in details:
                if "FAIL" in line or "fail" in line.split(":")[0]:
                    print("    " + line)
    return ok


if __name__ == "__main__":
    sys.exit(main())

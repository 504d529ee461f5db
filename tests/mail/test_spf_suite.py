"""The OpenSPF RFC 7208 suite: all 203 tests, explanations included."""

from __future__ import annotations

import asyncio

import pytest

from tests.mail.spf_suite import SuiteCase, judge, load_cases, run_case, run_spf_suite

CASES = load_cases()


def test_suite_has_203_tests_in_16_scenarios() -> None:
    assert len(CASES) == 203
    assert len({c.scenario for c in CASES}) == 16
    assert sum(c.explanation is not None for c in CASES) == 22


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rfc7208_case(case: SuiteCase) -> None:
    got = asyncio.run(run_case(case))
    problem = judge(case, got)
    assert problem is None, f"{case.scenario} / {case.name}: {problem}"


def test_runner_counts() -> None:
    passed, failed, details = run_spf_suite()
    assert (passed, failed, details) == (203, 0, [])


@pytest.mark.parametrize("case", [c for c in CASES if len(c.results) > 1],
                         ids=lambda c: c.name)
def test_preferred_result(case: SuiteCase) -> None:
    """Where the suite accepts several results, we give the first (preferred) one."""
    assert asyncio.run(run_case(case)).result.value == case.results[0]

"""Organizational domains (RFC 7489 s3.2) over the Public Suffix List."""

from __future__ import annotations

import pytest

from resolver.mail import psl as psl_mod
from resolver.mail.psl import Psl, default_psl, load_psl, org_domain, registrable_domain
from resolver.wire.name import name
from tests.mail import psl_suite

SNAPSHOT = Psl.from_file(psl_suite.SNAPSHOT)
CASES = psl_suite.load_cases()


def test_case_count() -> None:
    assert len(CASES) == 77
    assert sum(1 for _, expected in CASES if expected is not None) == 52


@pytest.mark.parametrize(("given", "expected"), CASES, ids=[c[0] for c in CASES])
def test_official_vector(given: str, expected: str | None) -> None:
    assert registrable_domain(given, psl=SNAPSHOT) == (expected.lower() if expected else None)


def test_runner_counts() -> None:
    assert psl_suite.run_psl_suite(SNAPSHOT) == (77, 0, [])
    assert psl_suite.run_psl_suite(Psl())[1] == 0   # the package's bundled list too


def test_org_domain_names() -> None:
    assert SNAPSHOT.org_domain(name("a.b.Example.COM")) == name("example.com")
    assert SNAPSHOT.org_domain("www.example.co.uk.") == name("example.co.uk")
    assert SNAPSHOT.org_domain("com") == name("com")          # a suffix is its own org domain
    assert SNAPSHOT.org_domain("www.食狮.公司.cn") == name("xn--85x722f.xn--55qx5d.cn")
    assert SNAPSHOT.org_domain(name("foo.bar.github.io")) == name("bar.github.io")
    for bad in ("", ".example.com", "a..b"):
        with pytest.raises(ValueError, match="not a domain name"):
            SNAPSHOT.org_domain(bad)


def test_icann_only_setting() -> None:
    icann = Psl.from_file(psl_suite.SNAPSHOT, only_icann=True)
    assert icann.org_domain("foo.bar.github.io") == name("github.io")
    assert icann.public_suffix("foo.github.io") == "io"


def test_load_psl_replaces_default() -> None:
    previous = psl_mod._default
    try:
        small = load_psl(psl_suite.SNAPSHOT)
        assert default_psl() is small and small.origin.endswith("public_suffix_list.dat")
        assert org_domain("x.y.example.com") == name("example.com")
        psl_mod.set_default_psl(Psl("example\n", origin="tiny"))
        assert org_domain("a.b.c.example") == name("c.example")
        assert registrable_domain("example") is None
    finally:
        psl_mod.set_default_psl(previous)

"""Fixtures shared by the mail tests: the milter test network (built once per run)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mail.milter_net import MilterNet, milter_net


@pytest.fixture(scope="session")
def mnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilterNet]:
    """The zones/ test network, a resolver on it; ``mnet.milter(...)`` adds milters."""
    with milter_net(tmp_path_factory.mktemp("milter-net")) as mn:
        yield mn

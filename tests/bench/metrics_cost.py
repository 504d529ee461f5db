"""Issue 9: counting for /metrics must not slow the cache-hit path. Our resolver twice,
in alternating warm runs: counting on (and /metrics scraped every second while the
load runs) and counting off (``--no-metrics``)."""

from __future__ import annotations

import contextlib
import tempfile
import threading
import urllib.request
from pathlib import Path

from . import workloads
from .dns_bench import WARM_OUTSTANDING, WARM_TIMEOUT, Row, _alternate, _guarded, _med
from .resolvers import Environment, free_port, pinning, progress, start_ours, start_testnet


class _Scraper:
    """Fetches /metrics once a second, as a Prometheus server would (10x its usual rate)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.scrapes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        while not self._stop.wait(1.0):
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    r.read()
                self.scrapes += 1
            except OSError:
                pass

    def __enter__(self) -> _Scraper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _metrics_cost() -> list[Row]:
    workdir = Path(tempfile.mkdtemp(prefix="resolver-bench-metrics-"))
    with contextlib.ExitStack() as stack:
        pin = pinning()
        progress("metrics cost: starting the test network")
        net = start_testnet(stack, workdir, 0, pin)
        api_port = free_port()
        on = start_ours(stack, workdir, net, pin, ("--upstream-port", str(net.port), "--api",
                                                   f"127.0.0.1:{api_port}"), "counting on")
        off = start_ours(stack, workdir, net, pin, ("--upstream-port", str(net.port),
                                                    "--no-metrics"), "counting off")
        env = Environment(workdir, pin, net, [on, off])
        queries = workloads.warm_queries()
        for server in env.servers:
            workloads.ask_all(server.port, queries)
            workloads.ask_all(server.port, queries)
        path = workloads.write_queries(workdir / "warm.txt", queries)
        with _Scraper(f"http://127.0.0.1:{api_port}/metrics") as scraper:
            runs = _alternate(env, lambda s, i: path, outstanding=WARM_OUTSTANDING,
                              once=False, kind="metrics", timeout=WARM_TIMEOUT)
        rows: list[Row] = []
        for label, rs in runs.items():
            qps = [r.load.qps for r in rs]
            cpu = [r.us_per_answer for r in rs]
            rows.append((f"cache hits, queries/s: {label}", f"{_med(qps):.0f}",
                         f"{min(qps):.0f}", f"CPU {_med(cpu):.1f} us per answer"))
        ratio = _med([r.load.qps for r in runs["counting on"]]) / _med(
            [r.load.qps for r in runs["counting off"]])
        rows.append(("queries/s with counting / without", f"{ratio:.2f}", "",
                     f"/metrics scraped {scraper.scrapes} times during the runs"))
        return rows


def section() -> list[Row]:
    return _guarded("metrics cost benchmark", _metrics_cost)


SECTIONS = [("metrics: cache hits with counting on (scraped) and off (issue 9)", section)]

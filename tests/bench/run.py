"""``make bench``: a small table of micro-benchmarks.

Every figure is the median (and min) of several timed runs of many calls each, in
microseconds per call; machine noise is real, so compare medians, not single runs.

Sections are functions returning rows of (operation, median us, min us, note). The DNS
sections also hand their figures to report.py; at the end the report (Markdown and a PNG
chart) is written to bench-report/ at the repository root (BENCH_REPORT_DIR moves it).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
import traceback
from collections.abc import Callable

from . import cold_mix, dns_bench, feature_cost, fleet, metrics_cost, parse, report, verify, workers

Row = tuple[str, str, str, str]

# --------------------------------------------------------------------------
# SECTIONS: each entry is (title, function returning rows).
SECTIONS: list[tuple[str, Callable[[], list[Row]]]] = [
    ("message parsing", parse.section),
    ("signature verification", verify.section),
    *dns_bench.SECTIONS,
    *cold_mix.SECTIONS,
    *metrics_cost.SECTIONS,
    *feature_cost.SECTIONS,
    *workers.SECTIONS,
    *fleet.SECTIONS,
]


def _print_table(title: str, rows: list[Row]) -> None:
    head = ("operation", "median us", "min us", "note")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    print(f"\n== {title} ==")
    line = "  ".join(h.ljust(w) if i in (0, 3) else h.rjust(w)
                     for i, (h, w) in enumerate(zip(head, widths, strict=True)))
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(c.ljust(w) if i in (0, 3) else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))


def main(argv: list[str] | None = None) -> int:
    started = dt.datetime.now(dt.UTC)
    t0 = time.monotonic()
    load_before = report.load_average()
    print(f"benchmarks: median (and min) of {parse.REPEATS} timed runs per figure, "
          "microseconds per call; Python " + sys.version.split()[0])
    load = load_before[0] if load_before else 0.0
    cpus = os.cpu_count() or 1
    print(f"machine: {cpus} CPUs, load average {load:.1f}"
          + ("  (busy: absolute figures are inflated, ratios hold better)"
             if load > cpus * 0.5 else ""))
    report.reset()
    tables: list[tuple[str, list[Row]]] = []
    failed = False
    for title, fn in SECTIONS:
        try:
            rows = fn()
        except Exception as exc:   # noqa: BLE001 - the other sections and the report still run
            traceback.print_exc()
            failed = True
            rows = [("error", "", "", f"{type(exc).__name__}: {exc}".splitlines()[0])]
        _print_table(title, rows)
        tables.append((title, rows))
    written = report.write(tables, started=started, seconds=time.monotonic() - t0,
                           load_before=load_before, load_after=report.load_average(),
                           method=dns_bench.method_notes())
    print("\nreport: " + ", ".join(str(p) for p in written))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

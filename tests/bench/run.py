"""``make bench``: a small table of micro-benchmarks.

Every figure is the median (and min) of several timed runs of many calls each, in
microseconds per call; machine noise is real, so compare medians, not single runs.

Sections are functions returning rows of (operation, median us, min us, note).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from . import dns_bench, parse, verify

Row = tuple[str, str, str, str]

# --------------------------------------------------------------------------
# SECTIONS: each entry is (title, function returning rows).
SECTIONS: list[tuple[str, Callable[[], list[Row]]]] = [
    ("message parsing", parse.section),
    ("signature verification", verify.section),
    *dns_bench.SECTIONS,
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
    print(f"benchmarks: median (and min) of {parse.REPEATS} timed runs per figure, "
          "microseconds per call; Python " + sys.version.split()[0])
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on every platform
        load = 0.0
    cpus = os.cpu_count() or 1
    print(f"machine: {cpus} CPUs, load average {load:.1f}"
          + ("  (busy: absolute figures are inflated, ratios hold better)"
             if load > cpus * 0.5 else ""))
    for title, fn in SECTIONS:
        _print_table(title, fn())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

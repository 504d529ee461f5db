"""The benchmark report that ``make bench`` writes: ``bench-report/report.md`` and
``bench-report/chart.png`` (the folder is at the repository root and ignored by git;
``BENCH_REPORT_DIR`` moves it).

Sections hand their figures over with :func:`record` (per-run values for each resolver,
ours first) as they run; :func:`write` then builds the summary table (metric, ours,
Unbound, ratio, goal), the machine, the method, the raw run figures, every section's
table as printed, and the chart (small multiples: one panel per metric, bars = the
figure, dots = the single runs). Without matplotlib the report says so and has no chart.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import re
import statistics
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = "ours"
Row = tuple[str, str, str, str]
Table = tuple[str, list[Row]]


@dataclass(frozen=True, slots=True)
class Goal:
    op: str            # ">=" or "<=", applied to the ratio ours/Unbound
    value: float
    source: str

    def met(self, ratio: float) -> bool:
        return ratio >= self.value if self.op == ">=" else ratio <= self.value

    def __str__(self) -> str:
        return f"{'≥' if self.op == '>=' else '≤'} {self.value:g}x ({self.source})"


@dataclass(frozen=True, slots=True)
class Spec:
    key: str
    title: str
    unit: str
    higher_is_better: bool
    fmt: str
    goal: Goal | None = None


SPECS: tuple[Spec, ...] = (
    Spec("warm_qps", "warm cache hits: throughput", "queries/s", True, ",.0f",
         Goal(">=", 0.8, "issue 18")),
    Spec("warm_cpu", "warm cache hits: CPU per answer", "µs", False, ",.1f"),
    Spec("cold_qps", "cold NSEC3 wildcard: throughput", "answers/s", True, ",.0f"),
    Spec("cold_cpu", "cold NSEC3 wildcard: CPU per answer", "µs", False, ",.0f",
         Goal("<=", 2.0, "issue 5")),
    Spec("lat_hit_p50", "latency, cache hit: p50", "ms", False, ",.3f"),
    Spec("lat_hit_p99", "latency, cache hit: p99", "ms", False, ",.3f"),
    Spec("lat_cold_p50", "latency, cold wildcard: p50", "ms", False, ",.2f"),
    Spec("lat_cold_p99", "latency, cold wildcard: p99", "ms", False, ",.2f"),
    Spec("mem_answer", "memory per cached answer (RSS)", "bytes", False, ",.0f",
         Goal("<=", 2.0, "issue 18")),
    Spec("mem_answer_dist", "memory per cached answer, distinct names (RSS)", "bytes", False,
         ",.0f", Goal("<=", 2.0, "issue 18")),
    Spec("cold_mix_cpu", "cold algorithm mix: CPU per answer", "µs", False, ",.0f",
         Goal("<=", 2.0, "issue 18")),
    Spec("cold_mix_dist_cpu", "cold algorithm mix, distinct names: CPU per answer", "µs",
         False, ",.0f", Goal("<=", 2.0, "issue 18")),
)
SPEC = {s.key: s for s in SPECS}


@dataclass(slots=True)
class Figure:
    spec: Spec
    runs: dict[str, list[float]]          # resolver label -> per-run values, ours first
    headline: dict[str, float] = field(default_factory=dict)
    detail: str = ""

    def value(self, label: str) -> float | None:
        if label in self.headline:
            return self.headline[label]
        runs = self.runs.get(label)
        return statistics.median(runs) if runs else None

    def ratio(self, ref: str | None) -> float | None:
        if ref is None:
            return None
        ours, theirs = self.value(OURS), self.value(ref)
        if ours is None or not theirs:
            return None
        return ours / theirs


_FIGURES: dict[str, Figure] = {}
_ERRORS: dict[str, str] = {}
_NO_REFERENCE: list[str] = []


def record(key: str, runs: dict[str, list[float]], *,
           headline: dict[str, float] | None = None, detail: str = "") -> None:
    """Hand over one metric of :data:`SPECS`: per-run values per resolver label (the
    headline figure is their median unless given)."""
    _FIGURES[key] = Figure(SPEC[key], {k: list(v) for k, v in runs.items()},
                           dict(headline or {}), detail)


def record_error(keys: str | Iterable[str], text: str) -> None:
    """These metrics were not measured, because of *text*."""
    for key in [keys] if isinstance(keys, str) else keys:
        _ERRORS.setdefault(key, text)


def record_no_reference(why: str) -> None:
    """Why a section ran without Unbound."""
    if why not in _NO_REFERENCE:
        _NO_REFERENCE.append(why)


def reset() -> None:
    _FIGURES.clear()
    _ERRORS.clear()
    _NO_REFERENCE.clear()


def figures() -> dict[str, Figure]:
    return dict(_FIGURES)


def reference_label() -> str | None:
    for fig in _FIGURES.values():
        for label in fig.runs:
            if label != OURS:
                return label
    return None


# ---------------------------------------------------------------------------- machine
def _first(path: str, key: str) -> str | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT,
                              timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:  # pragma: no cover - not on every platform
        return None


def machine() -> dict[str, str]:
    """What the figures were measured on (read-only look-ups)."""
    from .load import dnsperf_path, dnsperf_version
    from .resolvers import unbound_version

    out: dict[str, str] = {}
    cpu = _first("/proc/cpuinfo", "model name") or platform.processor() or "?"
    flags = _first("/proc/cpuinfo", "flags") or ""
    out["CPU"] = cpu + (" (virtual machine: hypervisor flag set)"
                        if " hypervisor" in f" {flags}" else "")
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover
        usable = os.cpu_count() or 1
    out["cores"] = f"{os.cpu_count()} logical CPUs ({usable} usable by the benchmark)"
    mem = _first("/proc/meminfo", "MemTotal")
    if mem:
        out["memory"] = f"{int(mem.split()[0]) / 1024 / 1024:.1f} GiB"
    out["kernel"] = f"{platform.system()} {platform.release()}"
    out["Python"] = f"{sys.version.split()[0]} ({platform.python_implementation()})"
    try:
        out["Python"] += f", uvloop {importlib.metadata.version('uvloop')}"
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - optional
        out["Python"] += ", uvloop absent (asyncio)"
    out["Unbound"] = unbound_version() or "not installed (no comparison)"
    if dnsperf_path() is None:
        out["load generator"] = "dnsperf not installed: Python load generator"
    elif os.environ.get("DNS_BENCH_LOADGEN") == "python":
        out["load generator"] = (f"Python load generator (DNS_BENCH_LOADGEN=python; "
                                 f"{dnsperf_version()} installed)")
    else:
        out["load generator"] = dnsperf_version()
    commit = _git("rev-parse", "--short", "HEAD")
    if commit:
        dirty = _git("status", "--porcelain", "--untracked-files=no")
        out["code"] = f"commit {commit}" + (" + uncommitted changes" if dirty else "")
    return out


# ---------------------------------------------------------------------------- markdown
def _fmt(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _goal_text(fig: Figure | None, spec: Spec, ratio: float | None) -> str:
    if spec.goal is None:
        return ""
    if ratio is None or fig is None:
        return f"{spec.goal}: not measured"
    return f"{spec.goal}: {'met' if spec.goal.met(ratio) else '**NOT met**'}"


def _better(spec: Spec) -> str:
    return "higher is better" if spec.higher_is_better else "lower is better"


def summary_table(ref: str | None) -> list[str]:
    ref_head = ref or "Unbound"
    lines = [f"| metric | ours | {ref_head} | ratio ours/{ref_head.split()[0]} | goal |",
             "| --- | ---: | ---: | ---: | --- |"]
    for spec in SPECS:
        fig = _FIGURES.get(spec.key)
        name = f"{spec.title}, {spec.unit} ({_better(spec)})"
        if fig is None:
            why = _ERRORS.get(spec.key, "section not run")
            goal = f"{spec.goal}: " if spec.goal else ""
            lines.append(f"| {_cell(name)} | — | — | — | {_cell(goal)}not measured "
                         f"({_cell(why)}) |")
            continue
        ratio = fig.ratio(ref)
        theirs = _fmt(fig.value(ref), spec.fmt) if ref else "—"
        goal = _goal_text(fig, spec, ratio)
        lines.append(f"| {_cell(name)} | {_fmt(fig.value(OURS), spec.fmt)} | {theirs} | "
                     f"{_fmt(ratio, '.2f')} | {_cell(goal)} |")
    return lines


def _spread(values: Sequence[float]) -> str:
    if len(values) < 2:
        return "—"
    med = statistics.median(values)
    return f"{(max(values) - min(values)) / med:.0%}" if med else "—"


def raw_table() -> list[str]:
    lines = ["| metric | resolver | figure | runs (in order) | spread (max-min)/median |",
             "| --- | --- | ---: | --- | ---: |"]
    for spec in SPECS:
        fig = _FIGURES.get(spec.key)
        if fig is None:
            continue
        for label, runs in fig.runs.items():
            lines.append(f"| {_cell(spec.title)}, {spec.unit} | {_cell(label)} | "
                         f"{_fmt(fig.value(label), spec.fmt)} | "
                         + " / ".join(format(v, spec.fmt) for v in runs)
                         + f" | {_spread(runs)} |")
    return lines


def _section_markdown(title: str, rows: list[Row]) -> list[str]:
    lines = [f"### {title}", "", "| operation | median | min | note |",
             "| --- | ---: | ---: | --- |"]
    lines += [f"| {' | '.join(_cell(c) for c in row)} |" for row in rows]
    return [*lines, ""]


def _noisy() -> list[str]:
    out = []
    for spec in SPECS:
        fig = _FIGURES.get(spec.key)
        if fig is None:
            continue
        for label, runs in fig.runs.items():
            med = statistics.median(runs) if runs else 0.0
            if len(runs) > 1 and med and (max(runs) - min(runs)) / med > 0.25:
                out.append(f"{spec.title} ({label}, {_spread(runs)})")
    return out


def markdown(tables: list[Table], *, started: dt.datetime, seconds: float,
             load_before: tuple[float, float, float] | None,
             load_after: tuple[float, float, float] | None,
             info: dict[str, str], method: list[str], chart: str | None) -> str:
    ref = reference_label()
    title = f"ours vs {ref}" if ref else "ours (no Unbound to compare with)"
    out = [f"# Benchmark report: {title}", "",
           f"`make bench`, {started:%Y-%m-%d %H:%M} UTC, {seconds / 60:.1f} minutes"
           + (f", {info['code']}" if "code" in info else "") + ".", ""]
    out += summary_table(ref)
    out += ["", "Figures are medians of alternating runs (memory: the growth over all its "
                "rounds); ratio = ours / Unbound. Goals: issue 4 wants at least half of "
                "Unbound's cache-hit queries/s, issue 5 at most twice its CPU per cold "
                "answer. CPU per answer is the figure that holds best on a shared machine; "
                "queries/s and latency move with whatever else runs on it."]
    if ref is None or _NO_REFERENCE:
        why = _NO_REFERENCE or sorted(set(_ERRORS.values())) or ["Unbound did not run"]
        out += ["", ("No comparison" if ref is None else "Some sections ran without Unbound")
                + ": " + "; ".join(why) + "."]
    out += [""]
    if chart:
        out += [f"![ours vs Unbound, one panel per metric]({chart})", ""]
    else:
        out += ["(No chart: matplotlib is not installed; `pip install -e '.[dev]'`.)", ""]
    out += ["## Machine", ""]
    out += [f"- **{k}**: {v}" for k, v in info.items() if k != "code"]

    def la(v: tuple[float, float, float] | None) -> str:
        return "unknown" if v is None else " / ".join(f"{x:.2f}" for x in v)

    out += [f"- **load average** (1/5/15 min): before {la(load_before)}, after "
            f"{la(load_after)}", ""]
    out += ["## Method", ""]
    out += [f"- {m}" for m in method]
    noisy = _noisy()
    out += ["", "**Noise.** The machine is shared and small: other work moves queries/s "
                "and latency by tens of percent between runs (see the spread column "
                "below and the \"other load\" notes in the tables). Runs alternate ours, "
                "Unbound, ours, ... so slow drifts hit both alike, and the ratios of one run "
                "hold better than the absolute figures. Latency with one query outstanding is "
                "largely the machine's (waking an idle virtual CPU, the host's scheduling): the "
                "client interleaves its queries to both resolvers so that the ratio is fair, but "
                "a p99 about equal for both says more about the host than about either. "
            + ("Spread above 25% in this run: " + "; ".join(noisy) + "."
               if noisy else "No figure spread more than 25% over its runs in this run."),
            ""]
    out += ["## Raw run figures", ""]
    out += raw_table()
    out += ["", "## Every section as printed", ""]
    for title_, rows in tables:
        out += _section_markdown(title_, rows)
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------------------- chart
def chart(path: Path, subtitle: str) -> str | None:
    """Small multiples of the recorded metrics; None (and no file) without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        return None
    ref = reference_label()
    labels = [OURS, *([ref] if ref else [])]
    colours = {OURS: "#3b75af", **({ref: "#ef8636"} if ref else {})}
    cols = 3
    rows = (len(SPECS) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(12, 3.3 * rows + 0.8), squeeze=False)
    for ax, spec in zip(axes.flat, SPECS, strict=False):
        figure = _FIGURES.get(spec.key)
        ax.set_title(f"{spec.title}\n{spec.unit}, {_better(spec)}", fontsize=9.5)
        ax.spines[["top", "right"]].set_visible(False)
        if figure is None:
            ax.text(0.5, 0.5, "not measured", ha="center", va="center",
                    transform=ax.transAxes, color="grey")
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        top = 0.0
        for i, label in enumerate(labels):
            value = figure.value(label)
            if value is None:
                continue
            ax.bar(i, value, width=0.6, color=colours[label], alpha=0.85)
            runs = figure.runs.get(label, [])
            ax.scatter([i + (j - (len(runs) - 1) / 2) * 0.08 for j in range(len(runs))],
                       runs, s=14, color="black", zorder=3, label=None)
            top = max(top, value, *runs)
            ax.annotate(format(value, spec.fmt), (i, max(value, *runs)), xytext=(0, 5),
                        textcoords="offset points", ha="center", fontsize=8.5)
        ax.set_ylim(0, top * 1.25 if top else 1)
        ax.set_xticks(range(len(labels)), [lb.replace(" ", "\n", 1) for lb in labels],
                      fontsize=8.5)
        ax.tick_params(axis="y", labelsize=8)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.10g}"))
        ratio = figure.ratio(ref)
        if ratio is not None:
            text = f"ours/Unbound = {ratio:.2f}"
            colour = "black"
            if spec.goal is not None:
                ok = spec.goal.met(ratio)
                text += f"  (goal {spec.goal.op} {spec.goal.value:g}: " \
                        f"{'met' if ok else 'NOT met'})"
                colour = "#2a7d2a" if ok else "#b22222"
            ax.set_xlabel(text, fontsize=8.5, color=colour)
    for ax in list(axes.flat)[len(SPECS):]:
        ax.set_visible(False)
    fig.suptitle("resolver benchmark: ours vs " + (ref or "(Unbound not run)")
                 + "  —  bars: figure, dots: single runs", fontsize=11)
    fig.text(0.5, 0.005, subtitle, ha="center", fontsize=8, color="#444444")
    fig.tight_layout(rect=(0, 0.02, 1, 0.98))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


# ---------------------------------------------------------------------------- files
def output_dir() -> Path:
    return Path(os.environ.get("BENCH_REPORT_DIR") or ROOT / "bench-report")


def write(tables: list[Table], *, started: dt.datetime, seconds: float,
          load_before: tuple[float, float, float] | None,
          load_after: tuple[float, float, float] | None,
          method: list[str], outdir: Path | None = None) -> list[Path]:
    """Write report.md and chart.png; returns the paths written."""
    outdir = outdir or output_dir()
    outdir.mkdir(parents=True, exist_ok=True)
    info = machine()
    cpu = re.sub(r"\s+", " ", info.get("CPU", "?"))
    la = f", load average {load_before[0]:.1f} -> {load_after[0]:.1f}" \
        if load_before and load_after else ""
    png = outdir / "chart.png"
    png.unlink(missing_ok=True)
    chart_name = chart(png, f"{started:%Y-%m-%d %H:%M} UTC; {cpu}; "
                            f"{info.get('cores', '')}{la}")
    md = outdir / "report.md"
    md.write_text(markdown(tables, started=started, seconds=seconds,
                           load_before=load_before, load_after=load_after, info=info,
                           method=method, chart=chart_name))
    return [md, *([png] if chart_name else [])]

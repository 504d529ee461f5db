"""Reader for the .rpl replay format of Unbound's testbound and of Deckard.

A file is a config block (ending with ``CONFIG_END``) and one scenario between
``SCENARIO_BEGIN`` and ``SCENARIO_END``: RANGEs of canned upstream answers (ENTRY
blocks served for some addresses during some steps) and STEPs (client queries,
checks of the replies, time passing). Both dialects share the syntax; they differ in
the config block (an unbound.conf fragment against a flat key list) and in how the
run loop uses the ranges, which :mod:`tests.conformance.replay` implements. See
tests/data/rpl/FORMAT.md.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from resolver.wire.message import RR, Question
from resolver.wire.name import Name
from resolver.wire.types import (
    AA,
    AD,
    CD,
    QR,
    RA,
    RD,
    TC,
    Opcode,
    class_from_text,
    is_class_text,
    rcode_from_text,
    type_from_text,
)
from resolver.wire.zonefile import ZoneFileError, read_rr_line

UNBOUND = "unbound"
DECKARD = "deckard"

FLAG_BITS = {"QR": QR, "AA": AA, "TC": TC, "RD": RD, "RA": RA, "AD": AD, "CD": CD}
SECTIONS = ("QUESTION", "ANSWER", "AUTHORITY", "ADDITIONAL")


class RplError(ValueError):
    """A line the reader cannot make sense of; the message names file and line."""

    def __init__(self, path: str, line: int, problem: str) -> None:
        super().__init__(f"{path}:{line}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


@dataclass(slots=True)
class Entry:
    """One ENTRY_BEGIN … ENTRY_END block: a packet template plus how to use it."""

    line: int
    match: list[str] = field(default_factory=list)    # MATCH items, lower case, in order
    adjust: list[str] = field(default_factory=list)   # ADJUST items, lower case
    reply: list[str] = field(default_factory=list)    # REPLY tokens as written
    opcode: int = Opcode.QUERY
    rcode: int = 0
    flags: int = 0                  # header bits QR AA TC RD RA AD CD
    do: bool = False
    question: list[Question] = field(default_factory=list)
    answer: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)
    additional: list[RR] = field(default_factory=list)
    raw: bytes | None = None        # Deckard RAW / Unbound HEX_ANSWER packet
    mandatory: bool = False
    ede: str | None = None          # MATCH ede=N / ede=any (Unbound): "N" or "any"

    def matches_on(self, item: str) -> bool:
        return item in self.match

    @property
    def qname(self) -> Name | None:
        return self.question[0].name if self.question else None

    @property
    def qtype(self) -> int | None:
        return self.question[0].qtype if self.question else None

    def section(self, title: str) -> list[RR]:
        return {"ANSWER": self.answer, "AUTHORITY": self.authority,
                "ADDITIONAL": self.additional}[title]


@dataclass(slots=True)
class Range:
    """RANGE_BEGIN from to [addr] … RANGE_END: answers for steps from..to."""

    start: int
    end: int
    line: int
    addresses: list[str] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)

    def covers(self, step: int) -> bool:
        return self.start <= step <= self.end


@dataclass(slots=True)
class Step:
    number: int
    kind: str                       # QUERY, CHECK_ANSWER, TIME_PASSES, REPLY, …
    args: list[str]
    line: int
    entry: Entry | None = None

    @property
    def elapse(self) -> float:
        """Seconds of a ``TIME_PASSES ELAPSE n`` step."""
        words = [a.upper() for a in self.args]
        if "ELAPSE" in words:
            return float(self.args[words.index("ELAPSE") + 1])
        raise ValueError(f"step {self.number}: TIME_PASSES without ELAPSE")

    @property
    def address(self) -> str | None:
        """Client source address of ``STEP n QUERY ADDRESS ip``."""
        words = [a.upper() for a in self.args]
        if "ADDRESS" in words:
            return self.args[words.index("ADDRESS") + 1]
        return None


@dataclass(slots=True)
class Zone:
    """A stub-zone or forward-zone clause."""

    name: Name
    addresses: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Config:
    anchors: list[RR] = field(default_factory=list)
    override_date: float | None = None      # epoch seconds (validation time)
    ignore_dates: bool = False              # val-override-date: "-1"
    stubs: list[Zone] = field(default_factory=list)
    forwards: list[Zone] = field(default_factory=list)
    stub_name: str = "k.root-servers.net."  # Deckard stub-name (NS name of the hint)
    qname_minimisation: bool | None = None
    options: dict[str, list[str]] = field(default_factory=dict)   # every key: values

    def option(self, key: str, default: str | None = None) -> str | None:
        values = self.options.get(key)
        return values[-1] if values else default

    def flag(self, key: str, default: bool) -> bool:
        value = self.option(key)
        if value is None:
            return default
        return value.lower() in ("yes", "on", "true", "1")

    @property
    def root_stub(self) -> Zone | None:
        for zone in self.stubs:
            if zone.name.is_root():
                return zone
        return None


@dataclass(slots=True)
class Scenario:
    path: Path
    dialect: str
    title: str
    config: Config
    ranges: list[Range]
    steps: list[Step]

    @property
    def name(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"

    def entries(self) -> list[Entry]:
        out = [e for r in self.ranges for e in r.entries]
        out += [s.entry for s in self.steps if s.entry is not None]
        return out


# --------------------------------------------------------------------------
# lexical helpers

def strip_comment(text: str, marks: str = ";") -> str:
    """*text* up to the first comment mark outside double quotes."""
    quoted = False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch in marks and not quoted:
            return text[:i]
    return text


def unquote(value: str) -> str:
    value = value.strip()
    if value.startswith('"'):
        end = value.find('"', 1)
        return value[1:end] if end > 0 else value[1:]
    return value


def parse_date(text: str) -> float:
    """``YYYYMMDDHHMMSS`` (UTC) as epoch seconds."""
    return float(calendar.timegm(time.strptime(text, "%Y%m%d%H%M%S")))


def read_record(text: str, path: str, line: int) -> RR:
    try:
        return read_rr_line(text, strict=False)
    except ZoneFileError as exc:
        raise RplError(path, line, f"bad record: {exc}") from None


def read_question(text: str, path: str, line: int) -> Question:
    words = strip_comment(text).split()
    if len(words) < 2:
        raise RplError(path, line, f"bad question {text!r}")
    try:
        name = Name.from_text(words[0] if words[0].endswith(".") else words[0] + ".")
        rest = words[1:]
        qclass = 1
        if len(rest) >= 2 and is_class_text(rest[0]):
            qclass = class_from_text(rest[0])
            rest = rest[1:]
        elif len(rest) >= 2 and rest[0].isdigit():     # a TTL some files carry
            rest = rest[1:]
            if len(rest) >= 2 and is_class_text(rest[0]):
                qclass = class_from_text(rest[0])
                rest = rest[1:]
        return Question(name, type_from_text(rest[0]), qclass)
    except ValueError as exc:
        raise RplError(path, line, f"bad question {text!r}: {exc}") from None


# --------------------------------------------------------------------------
# config block

_CLAUSE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*):\s*$")
_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*):\s*(.*)$")


def _parse_config(lines: list[tuple[int, str]], path: str) -> tuple[Config, str]:
    config = Config()
    clause = "server"
    zone: Zone | None = None
    saw_clause = False
    for number, raw in lines:
        text = strip_comment(raw, "#;").strip()
        if not text:
            continue
        head = _CLAUSE.match(text)
        if head:
            saw_clause = True
            clause = head.group(1).lower()
            zone = None
            if clause in ("stub-zone", "forward-zone"):
                zone = Zone(Name.from_text("."))
                (config.stubs if clause == "stub-zone" else config.forwards).append(zone)
            continue
        kv = _KEY.match(text)
        if not kv:
            # testbound's extras (COMMANDLINE, AUTOTRUST_FILE, …): keep the word
            config.options.setdefault(text.split()[0], []).append(text)
            continue
        key, value = kv.group(1).lower(), kv.group(2).strip()
        if zone is not None:
            if key == "name":
                name = unquote(value)
                zone.name = Name.from_text(name if name.endswith(".") else name + ".")
            elif key in ("stub-addr", "forward-addr"):
                zone.addresses.append(unquote(value).split("@")[0])
            elif key in ("stub-host", "forward-host"):
                zone.hosts.append(unquote(value))
            else:
                config.options.setdefault(f"{clause}.{key}", []).append(unquote(value))
            continue
        config.options.setdefault(key, []).append(unquote(value))
        if key == "trust-anchor":
            config.anchors.append(read_record(unquote(value), path, number))
        elif key == "val-override-date":
            date = unquote(value)
            if date.strip() == "-1":
                config.ignore_dates = True
            else:
                config.override_date = parse_date(date)
        elif key == "val-override-timestamp":
            config.override_date = float(unquote(value))
        elif key in ("qname-minimisation", "query-minimization"):
            config.qname_minimisation = unquote(value).lower() in ("yes", "on", "true")
        elif key == "stub-addr":       # Deckard: root hint address
            root = config.root_stub
            if root is None:
                root = Zone(Name.from_text("."))
                config.stubs.append(root)
            root.addresses.append(unquote(value))
        elif key == "stub-name":
            name = unquote(value)
            config.stub_name = name if name.endswith(".") else name + "."
        elif key == "forward-addr":    # Deckard: forwarder for "."
            config.forwards.append(Zone(Name.from_text("."), [unquote(value)]))
    return config, (UNBOUND if saw_clause else DECKARD)


# --------------------------------------------------------------------------
# scenario body

def _entry(lines: list[tuple[int, str]], pos: int, path: str) -> tuple[Entry, int]:
    """Read the ENTRY starting at lines[pos] (the ENTRY_BEGIN line)."""
    entry = Entry(lines[pos][0])
    section: str | None = None
    pos += 1
    while pos < len(lines):
        number, text = lines[pos]
        words = text.split()
        word = words[0].upper()
        if word == "ENTRY_END":
            return entry, pos + 1
        if word == "MATCH":
            for item in words[1:]:
                low = item.lower()
                if low.startswith("ede="):
                    entry.ede = low[4:]
                entry.match.append(low)
        elif word == "ADJUST":
            entry.adjust.extend(w.lower() for w in words[1:])
        elif word in ("REPLY", "FLAGS"):
            entry.reply.extend(words[1:])
            for token in words[1:]:
                up = token.upper()
                if up in FLAG_BITS:
                    entry.flags |= FLAG_BITS[up]
                elif up == "DO":
                    entry.do = True
                elif up in Opcode.__members__:
                    entry.opcode = int(Opcode[up])
                else:
                    try:
                        entry.rcode = rcode_from_text(up)
                    except ValueError:
                        raise RplError(path, number, f"unknown REPLY token {token!r}") from None
        elif word == "SECTION":
            section = words[1].upper() if len(words) > 1 else ""
            if section not in SECTIONS:
                raise RplError(path, number, f"unknown section {section!r}")
        elif word == "MANDATORY":
            entry.mandatory = True
        elif word == "RAW":
            pos += 1
            entry.raw = bytes.fromhex(lines[pos][1].strip())
        elif word in ("HEX_ANSWER_BEGIN", "HEX_EDNSDATA_BEGIN"):
            end = word.replace("BEGIN", "END")
            hexdata = []
            pos += 1
            while pos < len(lines) and lines[pos][1].split()[0].upper() != end:
                hexdata.append(lines[pos][1])
                pos += 1
            if word == "HEX_ANSWER_BEGIN":
                entry.raw = bytes.fromhex("".join("".join(hexdata).split()))
        elif word in ("TSIG", "EXTRA_PACKET"):
            raise RplError(path, number, f"{word} is not supported")
        elif section == "QUESTION":
            entry.question.append(read_question(text, path, number))
        elif section is not None:
            entry.section(section).append(read_record(text, path, number))
        else:
            raise RplError(path, number, f"unexpected line in entry: {text!r}")
        pos += 1
    raise RplError(path, entry.line, "ENTRY_BEGIN without ENTRY_END")


def _body(lines: list[tuple[int, str]], path: str) -> tuple[str, list[Range], list[Step]]:
    title = ""
    ranges: list[Range] = []
    steps: list[Step] = []
    current: Range | None = None
    pos = 0
    while pos < len(lines):
        number, text = lines[pos]
        words = text.split()
        word = words[0].upper()
        if word == "SCENARIO_BEGIN":
            title = text.split(None, 1)[1] if len(words) > 1 else ""
        elif word == "SCENARIO_END":
            break
        elif word == "RANGE_BEGIN":
            current = Range(int(words[1]), int(words[2]), number, list(words[3:]))
            ranges.append(current)
        elif word == "RANGE_END":
            current = None
        elif word == "ADDRESS" and current is not None:
            current.addresses.extend(words[1:])
        elif word == "ENTRY_BEGIN":
            entry, pos = _entry(lines, pos, path)
            if current is not None:
                current.entries.append(entry)
            elif steps and steps[-1].entry is None:
                steps[-1].entry = entry
            else:
                raise RplError(path, number, "ENTRY outside a RANGE or STEP")
            continue
        elif word == "STEP":
            step = Step(int(words[1]), words[2].upper(), words[3:], number)
            if steps and step.number <= steps[-1].number:
                raise RplError(path, number, "step numbers must increase")
            steps.append(step)
        else:
            raise RplError(path, number, f"unexpected line {text!r}")
        pos += 1
    return title, ranges, steps


def parse_text(text: str, path: Path, dialect: str | None = None) -> Scenario:
    name = str(path)
    config_lines: list[tuple[int, str]] = []
    body: list[tuple[int, str]] = []
    in_config = True
    for number, raw in enumerate(text.splitlines(), 1):
        if in_config:
            if raw.strip() == "CONFIG_END":
                in_config = False
            else:
                config_lines.append((number, raw))
            continue
        line = strip_comment(raw).strip()
        if line:
            body.append((number, line))
    if in_config:
        raise RplError(name, 1, "no CONFIG_END")
    config, guessed = _parse_config(config_lines, name)
    if dialect is None:
        folder = path.parent.name
        dialect = folder if folder in (UNBOUND, DECKARD) else guessed
    title, ranges, steps = _body(body, name)
    return Scenario(path, dialect, title, config, ranges, steps)


def parse_file(path: str | Path, dialect: str | None = None) -> Scenario:
    """Read one .rpl file. The dialect is the folder name (unbound/ or deckard/) when
    it is one, else guessed from the config block (clauses mean Unbound)."""
    p = Path(path)
    return parse_text(p.read_text(encoding="utf-8"), p, dialect)

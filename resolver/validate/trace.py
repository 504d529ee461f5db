"""A plain-words record of how a verdict was reached (``query --trace``, ``/v1/explain``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Trace:
    """Lines grouped by zone, in the order the validator worked. Cheap when off."""

    enabled: bool = True
    lines: list[tuple[str, str]] = field(default_factory=list)   # (zone or "", text)

    def add(self, zone: str, text: str) -> None:
        if self.enabled:
            self.lines.append((zone, text))

    def render(self) -> str:
        out = []
        last = None
        for zone, text in self.lines:
            if zone != last:
                out.append(f"{zone or '(answer)'}")
                last = zone
            out.append(f"    {text}")
        return "\n".join(out)

    def to_json(self) -> list[dict[str, str]]:
        return [{"zone": z, "step": t} for z, t in self.lines]


OFF = Trace(enabled=False)

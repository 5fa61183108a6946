"""Diagnostics: what the validator says about a flow, each pinned to a line."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import asdict, dataclass

__all__ = ["Diagnostic", "Severity", "has_errors", "passes", "sort_diagnostics"]


class Severity(enum.StrEnum):
    ERROR = "error"  # Kestra would refuse the flow
    POLICY = "policy"  # Kestra accepts it; this project refuses it (a credential written into the flow)
    WARNING = "warning"  # Kestra accepts it, but it is probably not what was meant
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding. `line`/`column` are 1-based; `path` is a JSONPath-like location (`tasks[2].sql`)."""

    severity: Severity
    code: str
    message: str
    line: int | None = None
    column: int | None = None
    path: str = ""
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        """Kestra refuses the flow."""
        return self.severity is Severity.ERROR

    @property
    def blocking(self) -> bool:
        """The flow is not accepted as it is: Kestra refuses it, or this project's policy does. The assistant
        repairs both, and does not deploy or test-run a flow with either."""
        return self.severity in (Severity.ERROR, Severity.POLICY)

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["severity"] = self.severity.value
        return data

    def format(self, filename: str = "") -> str:
        """`file:line:col: error[code] message (hint)` — the shape compilers and editors understand."""
        where = ":".join(str(p) for p in (filename, self.line, self.column) if p not in ("", None))
        text = f"{self.severity.value}[{self.code}] {self.message}"
        if where:
            text = f"{where}: {text}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.POLICY: 1, Severity.WARNING: 2, Severity.INFO: 3}


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Order by line, then severity; drop exact duplicates (two checks finding the same thing)."""
    unique = dict.fromkeys(diagnostics)
    return sorted(
        unique,
        key=lambda d: (d.line if d.line is not None else 0, _SEVERITY_ORDER[d.severity], d.column or 0),
    )


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    """Kestra would refuse the flow."""
    return any(d.is_error for d in diagnostics)


def passes(diagnostics: Iterable[Diagnostic]) -> bool:
    """Kestra would accept the flow and the project's policy does too (no error, no `policy` finding)."""
    return not any(d.blocking for d in diagnostics)

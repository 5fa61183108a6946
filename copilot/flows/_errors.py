"""Errors of the flow toolkit (see the tree in copilot/errors.py)."""

from __future__ import annotations

from copilot.errors import CopilotError

from ._diagnostics import Diagnostic, Severity

__all__ = ["FlowError", "FlowSyntaxError", "SchemaLoadError"]


class FlowError(CopilotError):
    """Flow text or a flow schema cannot be used."""


class FlowSyntaxError(FlowError):
    """The text is not YAML, is hostile YAML, or is not shaped like a flow."""

    def __init__(
        self, message: str, *, line: int | None = None, column: int | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.line = line
        self.column = column

    def to_diagnostic(self) -> Diagnostic:
        return Diagnostic(
            Severity.ERROR, "yaml-syntax", self.message, line=self.line, column=self.column, hint=self.hint
        )


class SchemaLoadError(FlowError):
    """A flow JSON schema cannot be read, fetched or compiled."""

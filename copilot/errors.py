"""The root of every error kestra-copilot raises on purpose.

    CopilotError                    str(exc) is written for the user; `hint` says what to do next
    ├── ConfigError                 a setting or config file is wrong
    └── copilot.flows.FlowError     flow text cannot be used (see copilot/flows/_errors.py)
        ├── FlowSyntaxError         not YAML, hostile YAML, or not a flow-shaped document
        └── SchemaLoadError         a flow JSON schema cannot be read or compiled

Foreign errors (PyYAML, jsonschema, httpx …) are translated at one boundary with `raise … from exc`.
"""

from __future__ import annotations


class CopilotError(Exception):
    """An error meant to be shown to the user as is."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    @property
    def explained(self) -> str:
        """What happened, then what to do: the message and its hint, as one line of text."""
        return f"{self.message} {self.hint}" if self.hint else self.message


class ConfigError(CopilotError):
    """A setting, environment variable or config file is invalid."""

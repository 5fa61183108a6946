"""`validate --server`: a Kestra server's own verdict, merged into the offline one.

The server runs what no offline check can (every installed plugin, server-side plugin defaults, the
edition, state such as existing namespaces). Its flow schema (every plugin it has, at its versions) is
fetched too (cached per server and version): the offline validator judges with it (Workspace.flow_schema).
Its constraints join the offline diagnostics; where the
offline validator already reports an error on the same line, its message (with a fix hint) is kept and
the server's is dropped as a duplicate.

A URL given on the command line that is not the configured server's origin gets none of the configured
credentials (Workspace.kestra); `note` says so, and so does the error of a 401 from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from dataclasses import dataclass, field

from .config import Settings
from .flows import Severity, ValidationResult, sort_diagnostics
from .kestra import KestraError, ServerValidation, server_diagnostics
from .schema_store import server_schema_text
from .urls import display_url
from .workspace import Workspace

__all__ = ["ServerCheck", "check_on_server", "judged_by"]


@dataclass
class ServerCheck:
    label: str  # "Kestra 1.3.2 at http://…"
    major: int | None = None
    problem: str | None = None  # why the server could not be asked, when it could not
    hint: str | None = None  # and what to do about it (how to trust a CA, say)
    note: str | None = None  # e.g. that the configured credentials were not sent to this URL
    results: list[ServerValidation | None] = field(default_factory=list)
    schema: str | None = None  # the server's flow schema (JSON text), when it gave one

    @property
    def schema_source(self) -> tuple[str, str] | None:
        """(schema text, label) for `Workspace.flow_schema`: what judges the flows before the live schema."""
        return (self.schema, self.label) if self.schema is not None and not self.problem else None

    def merge(self, position: int, result: ValidationResult) -> ValidationResult:
        verdict = self.results[position] if position < len(self.results) else None
        if verdict is None:
            return result
        local_error_lines = {d.line for d in result.diagnostics if d.severity is Severity.ERROR}
        extra = [
            d
            for d in server_diagnostics(verdict, result.parsed, self.label)
            if not (d.severity is Severity.ERROR and d.line in local_error_lines)
        ]
        return dataclasses.replace(result, diagnostics=sort_diagnostics([*result.diagnostics, *extra]))


async def _ask(settings: Settings, url: str | None, texts: list[str]) -> ServerCheck:
    async with Workspace(settings).kestra(url) as kestra:
        info = await kestra.server_info()
        label = f"Kestra {info.version} at {kestra.url}"
        check = ServerCheck(label=label, major=info.major, note=kestra.credentials_note)
        for text in texts:
            check.results.append(await kestra.validate_one(text))
        # Its plugins, exactly: cached per server and version, so fetched once per upgrade. An older server, or
        # one that refuses it: the next source judges (Workspace.flow_schema).
        with contextlib.suppress(KestraError):
            check.schema = await server_schema_text(kestra, settings.cache_dir)
        return check


def check_on_server(settings: Settings, url: str | None, texts: list[str]) -> ServerCheck:
    """Ask the server about each text; never raises for a server problem (it is reported in `problem`)."""
    try:
        return asyncio.run(_ask(settings, url, texts))
    except KestraError as exc:
        return ServerCheck(label=display_url(url or settings.kestra_url or "Kestra"), problem=str(exc), hint=exc.hint)


def judged_by(schema_source: str, server: str) -> str:
    """What `validate --server`'s verdicts rest on, the server named once: the schema that judged offline and
    the server that checked too (`bundled catalog (Kestra 1.x) + Kestra 1.3.2 at …`), or, when that schema is
    the server's own, the schema and the server's own check."""
    if server in schema_source:
        return f"{schema_source} + the server's own check"
    return f"{schema_source} + {server}"

"""Which plugin catalog judges flows and grounds the prompt, and how many plugin types it holds, said the same
way by `index status` and the chat's status bar:

    Kestra's live schema (fetched 2026-12-05), 1,071 plugin types
    bundled catalog (Kestra 1.x), 378 plugin types

The schema itself is chosen in one place, `Workspace.flow_schema`; this only says what it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .flows import FlowSchema

__all__ = ["CatalogInForce", "catalog_in_force"]

_FETCHED = re.compile(r"fetched (\d{4}-\d{2}-\d{2})")
_SERVER = re.compile(r"^the flow schema of (Kestra \S+)")


@dataclass(frozen=True)
class CatalogInForce:
    source: str  # the schema's source, as a verdict names it
    kind: str  # live (Kestra's hosted schema), server (a Kestra server's), bundled (the catalog shipped), file
    plugin_types: int
    note: str | None = None  # why a source was passed over (offline with no copy …)
    from_catalog: int = 0  # of the plugin types, those the bundled catalog filled in (the live schema lacks them)

    @property
    def label(self) -> str:
        """The source without its URL: `Kestra's live schema (fetched 2026-12-05)`, `bundled catalog`."""
        if self.kind == "live":
            fetched = _FETCHED.search(self.source)
            return "Kestra's live schema" + (f" (fetched {fetched[1]})" if fetched else "")
        if self.kind == "server" and (server := _SERVER.match(self.source)):
            return f"the flow schema of {server[1]}"
        return "bundled catalog" if self.kind == "bundled" else self.source

    def line(self) -> str:
        """`index status`'s: the whole source (a mirror's URL included) and the count."""
        filled = f" ({self.from_catalog:,} of them from the bundled catalog)" if self.from_catalog else ""
        return f"{self.source}, {self.plugin_types:,} plugin types{filled}"


def catalog_in_force(schema: FlowSchema, note: str | None = None) -> CatalogInForce:
    """What `schema` (Workspace.flow_schema's) is, and how many plugin types it defines."""
    types = schema.plugin_types()
    filled = sum(1 for source in types.values() if source != schema.source and source.startswith("bundled catalog"))
    return CatalogInForce(schema.source, schema.origin, len(types), note, filled)

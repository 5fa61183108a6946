"""The bundled catalog and the flow schemas generated from it, built once and kept in a cache file.

Parsing the catalog's YAML and generating a schema from it takes a few hundred milliseconds: more than a
whole `validate` should. `use_cache(folder)` (a front end calls it with the cache dir) reads them from
`<folder>/bundled-<fingerprint>/` (each part when it is first needed: a `validate` reads one schema), or
builds them and writes those files. The fingerprint covers what
they are made from — the catalog files, the code that reads them and generates the schemas, the Python
version — so a changed catalog or an upgrade builds a new file, never reads a stale one. Without a cache dir
(a library user), they are built in memory once per process.

The file is the user's own (0600 in the cache dir) and written atomically; one that cannot be read back (cut
short, another format) is built again.
"""

from __future__ import annotations

import hashlib
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ._pickles import read_pickle, write_pickle
from ._types import YamlMap

if TYPE_CHECKING:
    from ._catalog import Catalog
    from ._schema import FlowSchema, SchemaFacts

__all__ = ["Bundled", "bundled", "catalog_files", "use_cache"]

KESTRA_VERSIONS = (1, 2)
# The code that turns the catalog files into a Catalog and its schemas: a change to it is a new fingerprint.
BUILDERS = ("_catalog.py", "_schemagen.py", "_typeexpr.py", "_bundled.py", "_schema.py")  # _schema: the facts
FORMAT = 2  # bumped when what the files hold changes shape


class Bundled:
    """The bundled catalog and the schemas generated from it: from the cache folder when it has them (each
    read when first asked for: a `validate` reads one schema, not the catalog), else built."""

    def __init__(self, folder: Path | None, files: list[tuple[str, str]]) -> None:
        self._folder, self._files = folder, files
        self._catalog: Catalog | None = None
        self._schemas: dict[int, FlowSchema] = {}
        self._flowable: frozenset[str] | None = None

    @property
    def catalog(self) -> Catalog:
        from ._catalog import Catalog

        if self._catalog is None:
            self._catalog = self._read("catalog", Catalog) or self._build().catalog
        return self._catalog

    def schema(self, version: int) -> FlowSchema:
        """The flow schema generated for Kestra `version`.x, with what the validator derives from it."""
        if version not in self._schemas:
            stored = self._read(f"schema-{version}", tuple)
            self._schemas[version] = self._schema(version, *stored) if stored else self._build().schema(version)
        return self._schemas[version]

    def _schema(self, version: int, raw: YamlMap, facts: SchemaFacts | None = None) -> FlowSchema:
        from ._schema import FlowSchema

        return FlowSchema(
            raw,
            source=f"bundled catalog (Kestra {version}.x)",
            kestra_version=version,
            catalog=lambda: self.catalog,  # read when a hint needs it
            checked=True,  # the tests check the bundled schemas against the meta-schema
            facts=facts,
            origin="bundled",
        )

    @property
    def flowable(self) -> frozenset[str]:
        """The names (and old names) of the catalog's flowable tasks: those that hold tasks."""
        if self._flowable is None:
            self._flowable = self._read("flowable", frozenset) or self._build().flowable
        return self._flowable

    def _read(self, part: str, kind: type[_Part]) -> _Part | None:
        if self._folder is None:
            return None
        loaded = read_pickle(self._folder / f"{part}.pickle")
        return loaded if isinstance(loaded, kind) else None

    def _build(self) -> Bundled:
        """Everything, built from the catalog files (and written to the cache folder, if there is one)."""
        from ._catalog import load_catalog
        from ._schemagen import generate_flow_schema

        catalog = load_catalog(self._files)
        self._catalog = catalog
        self._schemas = {
            version: self._schema(version, generate_flow_schema(catalog, version)) for version in KESTRA_VERSIONS
        }
        flowable = [t for t in catalog.types.values() if t.kind == "flowable"]
        self._flowable = frozenset([t.name for t in flowable] + [alias for t in flowable for alias in t.aliases])
        if self._folder is not None:
            parts: dict[str, object] = {"catalog": catalog, "flowable": self._flowable}
            parts.update(
                {f"schema-{version}": (schema.raw, schema.facts()) for version, schema in self._schemas.items()}
            )
            _write(self._folder, parts)
        return self


_Part = TypeVar("_Part")
_loaded: Bundled | None = None
_cache_dir: Path | None = None


def catalog_files() -> list[tuple[str, str]]:
    """The bundled catalog's files as (name, text), in name order."""
    folder = resources.files("copilot.flows") / "catalog"
    return sorted(
        (entry.name, entry.read_text(encoding="utf-8")) for entry in folder.iterdir() if entry.name.endswith(".yaml")
    )


def use_cache(folder: Path | None) -> None:
    """Keep the bundled catalog and schemas in `folder` (None: in memory only), from the next `bundled()`."""
    global _cache_dir
    _cache_dir = folder


def bundled() -> Bundled:
    """The bundled catalog and its schemas, from the cache folder in use (`use_cache`) when it has them."""
    global _loaded
    if _loaded is None:
        files = catalog_files()
        folder = _cache_dir / f"bundled-{_fingerprint(files)}" if _cache_dir is not None else None
        _loaded = Bundled(folder, files)
    return _loaded


def _fingerprint(files: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256(f"{FORMAT} {sys.version_info[:2]}".encode())
    package = resources.files("copilot.flows")
    for name in BUILDERS:
        digest.update(name.encode() + b"\0" + (package / name).read_bytes())
    for name, text in files:
        digest.update(name.encode() + b"\0" + text.encode())
    return digest.hexdigest()[:24]


def _write(folder: Path, parts: dict[str, object]) -> None:
    """The cache folder's files, and the folders of earlier fingerprints gone. One that cannot be written
    costs time on the next run, never a verdict: it is left unsaid."""
    import shutil

    from ..errors import CopilotError
    from ..private_files import private_dir

    try:
        private_dir(folder)
        for part, value in parts.items():
            write_pickle(folder / f"{part}.pickle", value)
        for stale in folder.parent.glob("bundled-*"):
            if stale != folder and stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
    except (OSError, CopilotError):
        pass

"""Eval cases and suites, read from YAML.

A case is what a user would ask (one or more turns, optionally starting from a flow to edit) and the
checks its output must pass:

    id: taxi-postgres-merge
    tags: [etl, postgres]
    turns:
      - Load the yellow taxi CSV for a month into Postgres through a staging table, merge without duplicates.
    reference: ../../corpus/flows/postgres_etl_staging_merge.yaml   # for `similar`
    checks:
      - valid
      - types: {required: [io.kestra.plugin.jdbc.postgres.Queries]}
      - property: {path: "**[type~=Schedule].cron", equals: "0 9 1 * *"}
      - similar: {threshold: 0.5, weight: 2}

A suite is a YAML file (a list of cases, or `{defaults: {checks: […]}, cases: […]}`) or a folder of them.
Suite defaults' checks are added to every case of that file (unless the case lists the same check).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import CopilotError
from ..fileio import MAX_FLOW_BYTES, MAX_SUITE_BYTES, FileError, read_text

__all__ = ["Case", "CaseError", "Check", "load_suite"]


class CaseError(CopilotError):
    pass


@dataclass(frozen=True)
class Check:
    kind: str  # parses | valid | types | property | secrets | similar | preserves | test_run | rubric
    options: dict[str, Any] = field(default_factory=dict)
    weight: float = 1.0

    @property
    def name(self) -> str:
        """A stable label: the kind, plus the path for property checks."""
        if self.kind == "property":
            return f"property {self.options.get('path', '')}"
        return self.kind

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "options": self.options, "weight": self.weight}


@dataclass(frozen=True)
class Case:
    id: str
    turns: tuple[str, ...]
    checks: tuple[Check, ...]
    tags: tuple[str, ...] = ()
    flow: str | None = None  # the starting flow of an edit case
    reference: str | None = None  # a reference flow's text, for `similar`
    file: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "turns": list(self.turns),
            "checks": [c.to_json() for c in self.checks],
            "tags": list(self.tags),
            "flow": self.flow,
            "reference": self.reference,
            "file": self.file,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Case:
        checks = tuple(
            Check(c["kind"], dict(c.get("options") or {}), float(c.get("weight", 1.0))) for c in data["checks"]
        )
        return cls(
            id=data["id"],
            turns=tuple(data["turns"]),
            checks=checks,
            tags=tuple(data.get("tags") or ()),
            flow=data.get("flow"),
            reference=data.get("reference"),
            file=data.get("file", ""),
        )


KINDS = ("parses", "valid", "types", "property", "secrets", "similar", "preserves", "test_run", "rubric")


def load_suite(path: Path, *, tags: set[str] | None = None) -> list[Case]:
    """Every case of a suite file or folder (optionally only those with one of `tags`)."""
    files = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")) if path.is_dir() else [path]
    if not files or not all(f.exists() for f in files):  # a FIFO or a device is refused by read_text
        raise CaseError(f"No eval cases at {path}.", hint="Give a suite file or a folder of case YAML files.")
    cases: list[Case] = []
    for file in files:
        cases += _load_file(file)
    seen: dict[str, str] = {}
    for case in cases:
        if case.id in seen:
            raise CaseError(f"Case id {case.id!r} is used twice ({seen[case.id]} and {case.file}).")
        seen[case.id] = case.file
    if tags:
        cases = [c for c in cases if tags & set(c.tags)]
    return cases


def _load_file(file: Path) -> list[Case]:
    try:
        data = yaml.safe_load(read_text(file, limit=MAX_SUITE_BYTES, what="eval suite"))
    except FileError as exc:
        raise CaseError(str(exc), hint=exc.hint) from exc
    except yaml.YAMLError as exc:
        raise CaseError(f"Cannot read the eval cases in {file}: {exc}") from exc
    defaults: dict[str, Any] = {}
    if isinstance(data, dict) and "cases" in data:
        defaults, data = data.get("defaults") or {}, data["cases"]
    elif isinstance(data, dict):
        data = [data]  # a file with one case
    if not isinstance(data, list):
        raise CaseError(f"{file}: expected a case, a list of cases or `cases:`.")
    return [_case(item, file, defaults) for item in data]


def _case(item: Any, file: Path, defaults: dict[str, Any]) -> Case:
    where = f"{file}: case {item.get('id', '?') if isinstance(item, dict) else '?'}"
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        raise CaseError(f"{where}: every case needs a string `id`.")
    turns = item.get("turns") or ([item["ask"]] if "ask" in item else [])
    if not turns or not all(isinstance(t, str) and t.strip() for t in turns):
        raise CaseError(f"{where}: `turns` must be a non-empty list of requests.")
    checks = [_check(spec, where) for spec in item.get("checks") or []]
    kinds = {c.kind for c in checks}
    checks += [c for c in (_check(s, where) for s in defaults.get("checks") or []) if c.kind not in kinds]
    if not checks:
        raise CaseError(f"{where}: no checks.")
    flow = _text_or_file(item, "flow", file)
    reference = _text_or_file(item, "reference", file)
    if any(c.kind == "similar" for c in checks) and reference is None:
        raise CaseError(f"{where}: a `similar` check needs a `reference` flow.")
    if any(c.kind == "preserves" for c in checks) and flow is None:
        raise CaseError(f"{where}: a `preserves` check needs the starting `flow`.")
    return Case(
        id=item["id"],
        turns=tuple(t.strip() for t in turns),
        checks=tuple(checks),
        tags=tuple(str(t) for t in item.get("tags") or ()),
        flow=flow,
        reference=reference,
        file=str(file),
    )


def _text_or_file(item: dict[str, Any], key: str, file: Path) -> str | None:
    """Inline YAML text, or a path relative to the case file (one line ending in .yaml/.yml)."""
    value = item.get(key)
    if value is None:
        return None
    text = str(value)
    if "\n" not in text.strip() and text.strip().endswith((".yaml", ".yml")):
        target = (file.parent / text.strip()).resolve()
        try:
            return read_text(target, limit=MAX_FLOW_BYTES, what=key)
        except FileError as exc:
            raise CaseError(f"{file}: the {key} of a case cannot be used: {exc}", hint=exc.hint) from exc
    return text


def _check(spec: Any, where: str) -> Check:
    if isinstance(spec, str):
        kind, options = spec, {}
    elif isinstance(spec, dict) and len(spec) == 1:
        kind, raw = next(iter(spec.items()))
        options = dict(raw) if isinstance(raw, dict) else {}
    else:
        raise CaseError(f"{where}: a check is a name or `{{name: {{options}}}}`, not {spec!r}.")
    if kind not in KINDS:
        raise CaseError(f"{where}: unknown check {kind!r}.", hint=f"Checks: {', '.join(KINDS)}.")
    weight = float(options.pop("weight", 1.0))
    if kind == "property" and not isinstance(options.get("path"), str):
        raise CaseError(f"{where}: a property check needs a `path`.")
    return Check(kind, options, weight)

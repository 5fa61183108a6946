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

A question case asks something and checks the answer: `answer` passes when the last turn answered without
writing a flow (no revision), its text matching `matches` if given:

    id: question-why-merge
    flow: ../../corpus/flows/gcs_bigquery_elt.yaml
    turns: [Why a MERGE instead of a plain INSERT?]
    checks:
      - answer: {matches: "(?i)duplicate"}

A suite is a YAML file (a list of cases, or `{defaults: {checks: […]}, cases: […]}`) or a folder of them.
Suite defaults' checks are added to every case of that file (unless the case lists the same check).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import yaml

from ..errors import CopilotError
from ..fileio import MAX_FLOW_BYTES, MAX_SUITE_BYTES, FileError, read_text
from ..flows import YamlMap, YamlValue

__all__ = ["Case", "CaseError", "CaseJson", "Check", "CheckJson", "load_suite"]


class CaseError(CopilotError):
    pass


class CheckJson(TypedDict):
    kind: str
    options: YamlMap
    weight: float


class CaseJson(TypedDict):
    """A case as cases.json keeps it in a run directory."""

    id: str
    turns: list[str]
    checks: list[CheckJson]
    tags: list[str]
    flow: str | None
    reference: str | None
    file: str


@dataclass(frozen=True)
class Check:
    kind: str  # parses | valid | types | property | secrets | similar | preserves | test_run | rubric | answer
    options: YamlMap = field(default_factory=dict)
    weight: float = 1.0

    @property
    def name(self) -> str:
        """A stable label: the kind, plus the path for property checks."""
        if self.kind == "property":
            return f"property {self.text('path')}"
        return self.kind

    # --- the options, read (a suite's are checked when it loads: `_check`) ----------------------------
    def text(self, key: str, default: str = "") -> str:
        """A text option (a number as written); `default` when it is not set."""
        value = self.options.get(key)
        if value is None:
            return default
        if isinstance(value, list | dict):
            raise CaseError(f"The {self.kind} check's `{key}` is not a text: {value!r}.")
        return str(value)

    def number(self, key: str, default: float) -> float:
        """A number option (`threshold`, `kestra_version`); `default` when it is not set."""
        value = self.options.get(key)
        if value is None:
            return default
        try:
            if isinstance(value, list | dict | bool):
                raise ValueError
            return float(value)
        except ValueError:
            raise CaseError(f"The {self.kind} check's `{key}` is not a number: {value!r}.") from None

    def texts(self, key: str) -> list[str]:
        """A list option (`required`, `forbidden`, `except`), as texts; empty when it is not set."""
        value = self.options.get(key)
        if not value:
            return []
        if not isinstance(value, list) or any(isinstance(item, list | dict) for item in value):
            raise CaseError(f"The {self.kind} check's `{key}` is not a list of names: {value!r}.")
        return [str(item) for item in value]

    def mapping(self, key: str) -> dict[str, str]:
        """A mapping option (a test run's `inputs`), its values as texts; empty when it is not set."""
        value = self.options.get(key)
        if not value:
            return {}
        if not isinstance(value, dict):
            raise CaseError(f"The {self.kind} check's `{key}` is not a mapping: {value!r}.")
        return {name: str(item) for name, item in value.items()}

    def to_json(self) -> CheckJson:
        return {"kind": self.kind, "options": self.options, "weight": self.weight}

    @classmethod
    def from_json(cls, data: object) -> Check:
        if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
            raise CaseError("A check is not `{kind, options, weight}`.")
        options, weight = data.get("options") or {}, data.get("weight", 1.0)
        if not isinstance(options, dict) or not isinstance(weight, int | float):
            raise CaseError(f"The {data['kind']} check's options or weight are not what `eval run` writes.")
        return cls(str(data["kind"]), dict(options), float(weight))


@dataclass(frozen=True)
class Case:
    id: str
    turns: tuple[str, ...]
    checks: tuple[Check, ...]
    tags: tuple[str, ...] = ()
    flow: str | None = None  # the starting flow of an edit case
    reference: str | None = None  # a reference flow's text, for `similar`
    file: str = ""

    def to_json(self) -> CaseJson:
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
    def from_json(cls, data: object) -> Case:
        """A case of cases.json, checked (a CaseError says what is wrong)."""
        if not isinstance(data, dict):
            raise CaseError("A case is not a JSON object.")
        ident, turns, checks, tags = data.get("id"), data.get("turns"), data.get("checks"), data.get("tags") or []
        flow, reference, file = data.get("flow"), data.get("reference"), data.get("file", "")
        if not (
            isinstance(ident, str)
            and isinstance(turns, list)
            and isinstance(checks, list)
            and isinstance(tags, list)
            and isinstance(file, str)
            and isinstance(flow, str | None)
            and isinstance(reference, str | None)
        ):
            raise CaseError(
                f"Case {ident!r} is not what `eval run` writes (id, turns, checks, tags, flow, reference, file)."
            )
        return cls(
            id=ident,
            turns=tuple(str(turn) for turn in turns),
            checks=tuple(Check.from_json(check) for check in checks),
            tags=tuple(str(tag) for tag in tags),
            flow=flow,
            reference=reference,
            file=file,
        )


KINDS = ("parses", "valid", "types", "property", "secrets", "similar", "preserves", "test_run", "rubric", "answer")


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
        data: YamlValue = yaml.safe_load(read_text(file, limit=MAX_SUITE_BYTES, what="eval suite"))
    except FileError as exc:
        raise CaseError(str(exc), hint=exc.hint) from exc
    except yaml.YAMLError as exc:
        raise CaseError(f"Cannot read the eval cases in {file}: {exc}") from exc
    defaults: YamlValue = {}
    if isinstance(data, dict) and "cases" in data:
        defaults, data = data.get("defaults") or {}, data["cases"]
    elif isinstance(data, dict):
        data = [data]  # a file with one case
    if not isinstance(data, list):
        raise CaseError(f"{file}: expected a case, a list of cases or `cases:`.")
    if not isinstance(defaults, dict):
        raise CaseError(f"{file}: `defaults` must be a mapping (`defaults: {{checks: […]}}`).")
    return [_case(item, file, defaults) for item in data]


def _case(item: YamlValue, file: Path, defaults: YamlMap) -> Case:
    where = f"{file}: case {item.get('id', '?') if isinstance(item, dict) else '?'}"
    if not isinstance(item, dict):
        raise CaseError(f"{where}: every case needs a string `id`.")
    ident = item.get("id")
    if not isinstance(ident, str):
        raise CaseError(f"{where}: every case needs a string `id`.")
    turns = item.get("turns") or ([item["ask"]] if "ask" in item else [])
    if not isinstance(turns, list) or not turns or not all(isinstance(t, str) and t.strip() for t in turns):
        raise CaseError(f"{where}: `turns` must be a non-empty list of requests.")
    checks = [_check(spec, where) for spec in _items(item, "checks", where)]
    kinds = {c.kind for c in checks}
    checks += [c for c in (_check(s, where) for s in _items(defaults, "checks", where)) if c.kind not in kinds]
    if not checks:
        raise CaseError(f"{where}: no checks.")
    flow = _text_or_file(item, "flow", file)
    reference = _text_or_file(item, "reference", file)
    if any(c.kind == "similar" for c in checks) and reference is None:
        raise CaseError(f"{where}: a `similar` check needs a `reference` flow.")
    if any(c.kind == "preserves" for c in checks) and flow is None:
        raise CaseError(f"{where}: a `preserves` check needs the starting `flow`.")
    return Case(
        id=ident,
        turns=tuple(str(t).strip() for t in turns),
        checks=tuple(checks),
        tags=tuple(str(t) for t in _items(item, "tags", where)),
        flow=flow,
        reference=reference,
        file=str(file),
    )


def _items(mapping: YamlMap, key: str, where: str) -> list[YamlValue]:
    """A list entry of a case (`checks`, `tags`): empty when it is not set."""
    value = mapping.get(key) or []
    if not isinstance(value, list):
        raise CaseError(f"{where}: `{key}` must be a list.")
    return value


def _text_or_file(item: YamlMap, key: str, file: Path) -> str | None:
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


def _check(spec: YamlValue, where: str) -> Check:
    options: YamlMap
    if isinstance(spec, str):
        kind, options = spec, {}
    elif isinstance(spec, dict) and len(spec) == 1:
        kind, raw = next(iter(spec.items()))
        options = dict(raw) if isinstance(raw, dict) else {}
    else:
        raise CaseError(f"{where}: a check is a name or `{{name: {{options}}}}`, not {spec!r}.")
    if kind not in KINDS:
        raise CaseError(f"{where}: unknown check {kind!r}.", hint=f"Checks: {', '.join(KINDS)}.")
    try:
        weight = Check(kind, options).number("weight", 1.0)
        options.pop("weight", None)
        check = Check(kind, options, weight)
        _read_options(check)
    except CaseError as exc:
        raise CaseError(f"{where}: {exc}") from None
    if kind == "property" and not isinstance(options.get("path"), str):
        raise CaseError(f"{where}: a property check needs a `path`.")
    if kind == "answer":
        try:
            re.compile(check.text("matches"))
        except re.error as exc:
            raise CaseError(f"{where}: the answer check's `matches` is not a regular expression: {exc}.") from None
    return check


def _read_options(check: Check) -> None:
    """Read every option the scorers and the runner read, so one of the wrong kind fails the suite's load,
    not the run."""
    for key in ("threshold", "kestra_version"):
        check.number(key, 0.0)
    for key in ("required", "forbidden", "except"):
        check.texts(key)
    check.mapping("inputs")
    check.text("rubric")

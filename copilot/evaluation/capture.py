"""A turn that went well becomes a regression case: its request(s), the flow it started from, and checks
proposed from the accepted flow, written into a suite file for review.

    case = propose_case(["load the taxi CSV into Postgres"], accepted_yaml, prior_flow=None)
    add_case(Path("evals/mine.yaml"), case)

The checks are structural, never the exact text (a good answer may word a message differently): the
plugin types the accepted flow uses, its Schedule crons and inputs, secret hygiene, similarity to the
accepted flow as the reference; for an edit, that what it set, added or removed is there, and that the
tasks it did not touch stay as they were.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import yaml

from ..errors import CopilotError
from ..fileio import MAX_SUITE_BYTES, check_writable, read_text, write_text
from ..flows import YamlMap, YamlValue, parse_flow
from .cases import CaseError, load_suite
from .scorers import flow_types, own_properties, tasks_by_id

if TYPE_CHECKING:
    from ..engine.sessions import SessionStore

__all__ = ["add_case", "case_from_session", "check_names", "propose_case"]

MAX_EDIT_CHECKS = 8
SIMILAR_THRESHOLD = 0.6  # a fresh answer rarely matches the accepted one exactly; half its structure is a pass


def _slug(text: str, limit: int = 48) -> str:
    slug = ""
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        if slug and len(slug) + 1 + len(word) > limit:
            break
        slug = f"{slug}-{word}" if slug else word[:limit]
    return slug or "case"


def _data(text: str, what: str) -> YamlMap:
    try:
        data = parse_flow(text).data
    except CopilotError as exc:
        raise CaseError(f"The {what} does not parse: {exc}") from exc
    if not isinstance(data, dict):
        raise CaseError(f"The {what} is not a flow (a YAML mapping).")
    return data


def propose_case(
    turns: Sequence[str],
    accepted_yaml: str,
    *,
    prior_flow: str | None = None,
    case_id: str | None = None,
    tags: Sequence[str] = ("captured",),
) -> YamlMap:
    """A case mapping (as a suite file holds it) whose checks the accepted flow passes."""
    if not turns or not all(t.strip() for t in turns):
        raise CaseError("A case needs the request(s) that produced the flow.")
    data = _data(accepted_yaml, "accepted flow")
    checks: list[YamlValue] = ["parses", "valid", "secrets"]
    types: list[YamlValue] = [*sorted(set(flow_types(data)))]
    if types:
        checks.append({"types": {"required": types}})
    for trigger in _entries(data, "triggers"):
        if isinstance(trigger, dict) and "cron" in trigger and trigger.get("id"):
            path = f"triggers[id={trigger['id']}].cron"
            checks.append({"property": {"path": path, "equals": trigger["cron"]}})
    for item in _entries(data, "inputs"):
        if isinstance(item, dict) and item.get("id") and item.get("type"):
            checks.append({"property": {"path": f"inputs[id={item['id']}].type", "equals": item["type"]}})
    case: YamlMap = {"id": case_id or _slug(turns[0]), "tags": [*tags], "turns": [t.strip() for t in turns]}
    if prior_flow is not None:
        prior = _data(prior_flow, "starting flow")
        old_tasks, new_tasks = _tasks(prior), _tasks(data)
        tasks = _touched(old_tasks, new_tasks)  # what the edit was allowed to change, with these keys
        keys = [key for key in ("id", "namespace") if prior.get(key) != data.get(key)]
        edits = [_expect(key, data.get(key)) for key in keys] + _edit_checks(old_tasks, new_tasks, tasks)
        checks += edits[:MAX_EDIT_CHECKS]
        checks.append({"preserves": {"except": [*tasks, *keys], "weight": 2}})
        case["flow"] = prior_flow
    checks.append({"similar": {"threshold": SIMILAR_THRESHOLD}})
    case["reference"] = accepted_yaml
    case["checks"] = checks
    return case


def check_names(case: YamlMap) -> list[str]:
    """The kinds of a case mapping's checks, in order (`{types: …}` is `types`)."""
    return [str(next(iter(c))) if isinstance(c, dict) else str(c) for c in _entries(case, "checks")]


def _entries(data: YamlMap, key: str) -> list[YamlValue]:
    """A list under `key` (a flow's triggers, a case's checks); empty when it is not one."""
    value = data.get(key)
    return value if isinstance(value, list) else []


def _tasks(data: YamlValue) -> dict[str, YamlMap]:
    """The flow's tasks by id, the first one of an id that is used twice (as `**[id=…]` finds it first)."""
    found: dict[str, YamlMap] = {}
    for task_id, task in tasks_by_id(data):
        found.setdefault(task_id, task)
    return found


def _touched(old_tasks: dict[str, YamlMap], new_tasks: dict[str, YamlMap]) -> list[str]:
    """The tasks an edit added, removed or changed, judged as `preserves` judges them (own properties)."""
    ids = old_tasks.keys() | new_tasks.keys()
    return sorted(i for i in ids if own_properties(old_tasks.get(i)) != own_properties(new_tasks.get(i)))


def _expect(path: str, value: YamlValue) -> YamlMap:
    """Short scalars must be equal; long text and structures only present (a rewording still passes)."""
    if isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) <= 80 and "\n" not in value):
        return {"property": {"path": path, "equals": value}}
    return {"property": {"path": path}}


def _edit_checks(old_tasks: dict[str, YamlMap], new_tasks: dict[str, YamlMap], touched: list[str]) -> list[YamlValue]:
    """That the edit happened: what it set, added or removed, task by task."""
    checks: list[YamlValue] = []
    for task_id in touched:
        new, old = new_tasks.get(task_id), old_tasks.get(task_id)
        if new is None:
            checks.append({"property": {"path": f"**[id={task_id}]", "exists": False}})
            continue
        where = f"**[id={task_id}]"
        if old is None:
            checks.append(_expect(f"{where}.type", new["type"]))
            continue
        mine, before = own_properties(new), own_properties(old)  # nested tasks have checks of their own
        if not isinstance(mine, dict) or not isinstance(before, dict):
            continue
        checks += [_expect(f"{where}.{key}", value) for key, value in mine.items() if before.get(key) != value]
        checks += [{"property": {"path": f"{where}.{key}", "exists": False}} for key in before if key not in mine]
    return checks


class _Revision(NamedTuple):
    """A revision of a session's line, as the store gives it back."""

    number: int
    turn: int | None  # the turn that made it (None: a loaded file)
    yaml: str
    valid: bool


def case_from_session(store: SessionStore, session_id: str, turn: int | None = None) -> YamlMap:
    """A case from a recorded session: the request of `turn` (default: the last turn that made a valid
    flow), the flow it started from (the revision before, if any) and the flow it made, the reference."""
    if not store.has_session(session_id):
        raise CaseError(f"There is no session {session_id!r}.", hint="`kestra-copilot sessions` lists them.")
    requests: dict[int, str] = {t["number"]: t["request"] for t in store.turns(session_id)}
    if turn is not None and turn not in requests:
        has = f"its turns are 1 to {len(requests)}" if requests else "it has no turns yet"
        raise CaseError(f"Session {session_id} has no turn {turn}: {has}.")
    line = store.revisions(session_id)  # the session's line: every revision on it has its number
    revisions = [_Revision(r["number"], r["turn"], r["yaml"], r["valid"]) for r in line if r["number"] is not None]
    revision = _reference(revisions, session_id, turn)
    before = [r for r in revisions if r.number < revision.number]
    prior = before[-1].yaml if before else None
    made_by = revision.turn if revision.turn is not None else 0  # a reference is made by a turn (_reference)
    return propose_case([requests[made_by]], revision.yaml, prior_flow=prior)


def _reference(revisions: list[_Revision], session_id: str, turn: int | None) -> _Revision:
    """The revision `turn` made (default: the last valid one a turn made); an invalid one is refused, as a
    reference must pass its own case, `valid` check included."""
    made = [r for r in revisions if r.turn is not None and (turn is None or r.turn == turn)]
    where = f"session {session_id}" if turn is None else f"turn {turn} of session {session_id}"
    if not made:
        raise CaseError(f"No flow was made by {where}.", hint="`kestra-copilot sessions` lists the sessions.")
    if turn is not None and not made[-1].valid:
        raise CaseError(
            f"The flow made by {where} (revision {made[-1].number}) is invalid: it cannot be a case's reference.",
            hint="Capture a turn that made a valid flow (leave out --turn for the last one).",
        )
    valid = [r for r in made if r.valid]
    if not valid:
        raise CaseError(f"No valid flow was made by {where}.", hint="Capture a session whose flow validates.")
    return valid[-1]


def _dump(data: YamlValue) -> str:
    """YAML with multi-line strings as `|` blocks, so captured flows stay readable."""

    class Dumper(yaml.SafeDumper):
        pass

    def string(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    Dumper.add_representer(str, string)
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=120)


def add_case(suite: Path, case: YamlMap) -> str:
    """Append `case` to a suite file (created if need be); its id is made unique in the file. Returns the id.
    The file is replaced atomically, keeping its permissions; through a symlink, its target is; a FIFO or
    a device is refused (fileio)."""
    existing: YamlValue = None
    check_writable(suite, what="eval suite", make_parents=True)
    text = read_text(suite, limit=MAX_SUITE_BYTES, what="eval suite") if suite.exists() else None
    if text is not None:
        try:
            existing = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CaseError(f"{suite} is not valid YAML: {exc}", hint="Fix it, or capture into another file.") from exc
    cases: list[YamlValue]
    document: YamlValue
    if isinstance(existing, dict) and "cases" in existing:
        listed = existing["cases"] or []
        if not isinstance(listed, list):
            raise CaseError(f"{suite} is not a suite: its `cases` is not a list.")
        cases = existing["cases"] = [*listed]
        document = existing
    elif isinstance(existing, list):
        cases = document = existing
    elif existing is None:
        cases, document = [], None
    else:
        raise CaseError(f"{suite} is not a suite (a list of cases or `cases:`).")
    taken = {c.get("id") for c in cases if isinstance(c, dict)}
    base, number = case["id"], 1
    while case["id"] in taken:
        number += 1
        case = {**case, "id": f"{base}-{number}"}
    cases.append(case)
    if document is None:
        document = {"cases": cases}
    # PyYAML drops comments: the file's leading comment block is carried over, the rest is rewritten.
    head = _leading_comments(text) if text is not None else HEADER
    # What replaces the suite must load as one.
    write_text(suite, head + _dump(document), what="eval suite", make_parents=True, check=load_suite)
    return str(case["id"])


HEADER = "# Cases captured from conversations: review the proposed checks, then keep them.\n"


def _leading_comments(text: str) -> str:
    lines = []
    for line in text.splitlines(keepends=True):
        if not line.startswith("#"):
            break
        lines.append(line)
    return "".join(lines)

"""What a flow can do once it runs: the summary a person reads before a model's flow is deployed or run.

    caps = flow_capabilities(flow_yaml)
    caps.lines()                      # "runs code  task `fetch`: shell Commands on the Process runner …"
    caps.signature - approved         # what a repair added that the user has not said yes to

It names what matters to a reviewer: tasks that run code (and where: the Process runner runs on the
Kestra worker's own host, unisolated), the hosts the flow connects to, its triggers (a Schedule keeps
running once deployed), subflows it calls, KV and file writes, deletes (plugin types and destructive SQL),
and tasks that act on Kestra itself. The `signature` adds every task and trigger type, so a repair that
brings in a new plugin, a new host or a trigger is seen as new.

A task is judged as Kestra runs it: with the flow's `pluginDefaults` merged in as Kestra merges them (a
default can set the Process runner or `beforeCommands` for every Shell task). Hosts are also looked for
where a task's expressions can take them from — the flow's `variables`, its inputs' defaults — and a host
written as an expression (`https://{{ vars.target }}`) is named as one picked at run time.

The summary is a reader's guide, and no reading of a flow can follow every expression: a script's
command can come from another task's output, SQL from the variables, a host from a computed string. So
what a yes is bound to does not rest on it: unless every task is one of a few inert core tasks (Log,
Return, If, Switch, Pause …), the flow is signed whole and any change to it is asked about again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ._parse import parse_flow
from ._tasks import iter_tasks
from ._types import YamlMap, YamlValue
from ._values import plugin_types

__all__ = ["Capabilities", "Capability", "flow_capabilities"]

# Core tasks that act only within their execution (no code, no host, no write outside it): a flow whose
# plugins are all among these is judged by its capabilities; any other flow is signed whole.
INERT_TYPES = frozenset(f"io.kestra.plugin.core.{name}" for name in (
    "log.Log", "debug.Return", "debug.Echo", "output.OutputValues", "flow.Sequential", "flow.Parallel",
    "flow.ForEach", "flow.Loop", "flow.EachSequential", "flow.EachParallel", "flow.If", "flow.Switch",
    "flow.Dag", "flow.AllowFailure", "flow.Pause", "flow.Sleep", "flow.WaitFor", "flow.LoopUntil",
    "execution.Fail", "execution.Assert", "execution.Exit", "execution.Labels", "execution.SetVariables",
    "execution.UnsetVariables", "kv.Get", "kv.GetKeys", "state.Get", "storage.Concat", "storage.Size",
    "storage.Split", "storage.Reverse", "storage.FilterItems", "storage.DeduplicateItems",
))  # fmt: skip
_PEBBLE_HTTP = re.compile(r"\bhttp\s*\(")  # a Pebble function that could reach a host from any task

KINDS = {  # kind → how the summary names it, in the order it is shown
    "code": "runs code",
    "host": "connects to",
    "trigger": "triggers",
    "subflow": "calls flows",
    "kestra": "acts on Kestra",
    "write": "writes",
    "delete": "deletes",
}

_CODE = re.compile(
    r"\.scripts\.|\.cli\.|\.docker\.Run$|\.ssh\.Command$|\.kubernetes\.|\.runner\.Process$|\.(Commands|Script|Eval)$"
    r"|\.TemplatedTask$"  # renders a task from a template: what it runs is known only at run time
)
_IN_WORKER = re.compile(r"\.scripts\.(groovy|nashorn|jython)\.")  # evaluated inside the worker's JVM
_SUBFLOW = re.compile(r"\.flow\.(Subflow|ForEachItem|Flow)$|\.core\.tasks\.flows\.(Flow|Subflow)$")
_KESTRA_API = re.compile(
    r"^io\.kestra\.plugin\.kestra\.|\.core\.(execution|trigger)\.(?!Count|Labels|Exit)|\.git\.Sync\w*$"
)
_DELETE = re.compile(r"^(Delete|Purge|Remove|Drop|Truncate|Kill)")
_WRITE = re.compile(r"^(Set|Put|Upload|Copy|Move|Write|Push|Create)")
_SQL_OBJECT = r"(?:table|schema|database|view|materialized\s+view|index|user|role|function|procedure|sequence|type)"
_DESTRUCTIVE_SQL = re.compile(
    rf"\b(drop\s+{_SQL_OBJECT}|truncate(?:\s+table)?(?=\s+[\w\"`\[])|delete\b(?=[^;]*?\bfrom\b)|alter\s+table"
    r"|then\s+delete|update\b(?=[^;]*?\bset\b))",
    re.IGNORECASE,
)
_SQL_PROGRAM = re.compile(r"\b(?:to|from)\s+program\b", re.IGNORECASE)  # PostgreSQL's COPY … PROGRAM runs a command
_SQL_COMMENT = re.compile(r"/\*.*?\*/|--[^\n]*|#[^\n]*", re.DOTALL)  # MySQL's # too: over-reading is safe
# A task that takes these runs commands, whatever its plugin calls itself (SnowflakeCLI, ClickHouseLocalCLI …).
_RUNS_COMMANDS = ("taskRunner", "commands", "beforeCommands", "containerImage", "runner")
_SQL_KEYS = frozenset({"sql", "sqls", "query", "queries", "statement", "statements", "commands", "script"})
# scheme://host[:port] — the host stops where a path, quote, space or Pebble expression begins.
_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*)://(?:[^/\s@'\"{}<>|\\]*@)?([^/\s'\"`{}<>|\\?#,;)]+)")
_LOCAL_SCHEMES = frozenset({"kestra", "nsfile", "file"})
# A host written as an expression (`https://{{ vars.target }}/…`): which host is known only at run time.
_RUNTIME_HOST = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*)://[^/\s'\"]*?\{[{%]|\{[{%][^}]*[}%]\}()://")
_AT_RUN_TIME = "a host an expression picks at run time"
_HOST_KEYS = frozenset({"host", "hostname", "endpoint", "server", "bootstrapservers", "url", "uri"})
_RUNNERS = {
    "process": "the Process runner: on the Kestra worker's own host, not isolated",
    "docker": "the Docker runner (a container)",
}


@dataclass(frozen=True, order=True)
class Capability:
    kind: str  # a key of KINDS
    value: str  # what is approved: a task type, a host, `namespace/flowId` …
    detail: str = ""  # for the reader: the runner, a cron …
    where: str = ""  # "task `fetch`", "trigger `daily`"


@dataclass(frozen=True)
class Capabilities:
    items: tuple[Capability, ...]
    types: frozenset[str]  # every task, trigger and runner type
    whole: str | None = None  # the digest of the whole flow, when it is signed whole (see flow_capabilities)

    @property
    def signature(self) -> frozenset[tuple[str, str]]:
        """What a yes covers: each capability's kind and value, each plugin type, and for a flow signed whole
        its exact text (any change to it is asked about again)."""
        signed = {(c.kind, c.value) for c in self.items} | {("type", t) for t in self.types}
        return frozenset(signed | ({("flow", self.whole)} if self.whole else set()))

    def beyond(self, approved: frozenset[tuple[str, str]]) -> tuple[str, ...]:
        """What this flow can do that `approved` does not cover, worded for the user: each new capability
        once (a new Shell task is "runs code …", not also "uses …")."""
        new = self.signature - approved
        named = {value for kind, value in new if kind not in ("type", "flow")}
        out = [
            f"{'uses' if kind == 'type' else KINDS.get(kind, kind)} {value}"
            for kind, value in sorted(new)
            if kind != "flow" and not (kind == "type" and value in named)
        ]
        if not out and new:
            out.append(
                "a change to a flow whose tasks act beyond their execution (code, hosts, SQL, files …): what they "
                "do can come from anywhere in the flow, so every change to such a flow is asked about"
            )
        return tuple(out)

    def lines(self) -> list[str]:
        """The summary, one line per capability, grouped by kind; the plugin types last."""
        out = []
        for kind, label in KINDS.items():
            for cap in sorted(c for c in self.items if c.kind == kind):
                detail = f" — {cap.detail}" if cap.detail else ""
                where = f" ({cap.where})" if cap.where else ""
                out.append(f"{label:<14} {cap.value}{detail}{where}")
        if not self.items:
            out.append("nothing beyond its own tasks: no code, no outside host, no trigger, no write or delete")
        if self.types:
            out.append(f"{'plugin types':<14} {', '.join(sorted(t.rsplit('.', 1)[-1] for t in self.types))}")
        return out


def flow_capabilities(flow: str | YamlMap) -> Capabilities:
    data = parse_flow(flow).data if isinstance(flow, str) else flow
    items: set[Capability] = set()
    types: set[str] = set()
    defaults = _plugin_defaults(data)
    # Where a task's expressions can take a host from ({{ vars.x }}, {{ inputs.y }}).
    items.update(_hosts(data.get("variables"), "the flow's variables"))
    for spec in _list(data.get("inputs")):
        items.update(_hosts({k: v for k, v in spec.items() if k != "description"}, f"input `{spec.get('id', '?')}`"))
    for trigger in _list(data.get("triggers")):
        trigger = _with_defaults(trigger, defaults)
        kind = str(trigger.get("type") or "")
        types.add(kind)
        where = f"trigger `{trigger.get('id', '?')}`"
        items.add(Capability("trigger", _short(kind), _trigger_detail(trigger), where))
        items.update(_hosts(trigger, where))
    for _, task in iter_tasks(data):
        task = _with_defaults(task, defaults)
        kind = str(task.get("type") or "")
        where = f"task `{task.get('id', '?')}`"
        types.add(kind)
        items.update(_task_capabilities(task, kind, data, where))
        runner = task.get("taskRunner")
        if isinstance(runner, dict) and runner.get("type"):
            types.add(str(runner["type"]))
        items.update(_hosts(task, where))
    # No reading of a flow follows every expression (a script's command from another task's output, SQL from
    # the variables, a host from a computed string): unless every plugin it names is an inert core task, the
    # flow is signed whole, so any change to it is asked about again. The summary is what a person reads;
    # this is what a yes is bound to.
    text = json.dumps({k: v for k, v in data.items() if k != "description"}, sort_keys=True, default=str)
    inert = set(plugin_types(data)) <= INERT_TYPES and not _PEBBLE_HTTP.search(text)
    whole = None if inert else hashlib.sha256(text.encode()).hexdigest()[:16]
    return Capabilities(tuple(sorted(items)), frozenset(t for t in types if t), whole)


def _plugin_defaults(data: YamlMap) -> list[tuple[str, YamlMap, bool]]:
    """(type or package prefix, values, forced) for each of the flow's plugin defaults."""
    out = []
    for section in ("pluginDefaults", "taskDefaults"):
        for entry in _list(data.get(section)):
            kind, values = entry.get("type"), entry.get("values")
            if isinstance(kind, str) and isinstance(values, dict):
                out.append((kind, values, entry.get("forced") is True))
    return out


def _with_defaults(node: YamlMap, defaults: list[tuple[str, YamlMap, bool]]) -> YamlMap:
    """`node` as Kestra runs it (PluginDefaultService): a default whose type is a plain prefix of the node's
    type fills in what the node does not set, a `forced` one overrides what it sets, and the same goes for
    every typed map inside it (its `taskRunner`), so a default can switch a task to the Process runner."""
    kind = str(node.get("type") or "")
    merged = dict(node)
    for prefix, values, forced in defaults:
        if kind.startswith(prefix):
            merged = {**merged, **values} if forced else {**values, **merged}
    for key, value in merged.items():
        if isinstance(value, dict) and isinstance(value.get("type"), str):
            merged[key] = _with_defaults(value, defaults)
    return merged


def _task_capabilities(task: YamlMap, kind: str, flow: YamlMap, where: str) -> Iterator[Capability]:
    simple = kind.rsplit(".", 1)[-1]
    if _CODE.search(kind) or any(key in task for key in _RUNS_COMMANDS):
        yield Capability("code", kind, _runner(task, kind), where)
    if _SUBFLOW.search(kind):
        target = f"{task.get('namespace') or flow.get('namespace')}/{task.get('flowId') or '?'}"
        yield Capability("subflow", target, "", where)
    elif _KESTRA_API.search(kind):
        yield Capability("kestra", kind, "", where)
    if _DELETE.match(simple):
        yield Capability("delete", kind, "", where)
    elif _WRITE.match(simple) or kind.endswith(".namespace.UploadFiles"):
        yield Capability("write", kind, "", where)
    for key, value in _strings(task):
        if key.lower() not in _SQL_KEYS:
            continue
        sql = _SQL_COMMENT.sub(" ", value)  # DROP/**/TABLE is DROP TABLE
        for match in _DESTRUCTIVE_SQL.finditer(sql):
            statement = " ".join(match.group(1).upper().split()).replace("THEN DELETE", "MERGE … DELETE")
            yield Capability("write" if statement == "UPDATE" else "delete", f"SQL {statement}", "", where)
        if _SQL_PROGRAM.search(sql):
            yield Capability("code", "SQL COPY … PROGRAM", "a command run by the database server", where)


def _runner(task: YamlMap, kind: str) -> str:
    if _IN_WORKER.search(kind):
        return "evaluated inside the Kestra worker's JVM, not isolated"
    runner = task.get("taskRunner")
    name = str(runner.get("type") or "") if isinstance(runner, dict) else ""
    deprecated = task.get("runner")
    if not name and isinstance(deprecated, str):  # the deprecated `runner: PROCESS | DOCKER`
        name = deprecated
    if not name:
        return "the default runner (Docker for scripts)" if ".scripts." in kind else ""
    short = _short(name).lower()
    return _RUNNERS.get(short, f"the {_short(name)} runner")


def _trigger_detail(trigger: YamlMap) -> str:
    parts = []
    if trigger.get("cron"):
        parts.append(f"cron {trigger['cron']}")
    if trigger.get("key"):
        parts.append("an inbound webhook")
    if trigger.get("disabled") is True:
        parts.append("disabled")
    return ", ".join(parts)


def _hosts(node: YamlValue, where: str) -> Iterator[Capability]:
    for key, value in _strings(node):
        for match in _URL.finditer(value):
            scheme, host = match.group(1), match.group(2)
            if scheme.lower() not in _LOCAL_SCHEMES and value[match.end() : match.end() + 1] != "{":
                yield Capability("host", f"{scheme.lower()}://{host.lower()}", "", where)
        computed = _RUNTIME_HOST.findall(value)
        for scheme, _ in computed:
            yield Capability("host", f"{(scheme or '…').lower()}://{{{{…}}}}", _AT_RUN_TIME, where)
        expression = "{{" in value or "{%" in value
        if key.lower() in _HOST_KEYS and expression and not computed and not _URL.search(value.split("{", 1)[0]):
            yield Capability("host", "{{…}}", _AT_RUN_TIME, where)  # the whole address is computed
        elif key.lower() in _HOST_KEYS and "://" not in value and re.fullmatch(r"[\w.-]+", value):
            yield Capability("host", value.lower(), "", where)


def _strings(node: YamlValue, key: str = "") -> Iterator[tuple[str, str]]:
    """(the nearest key, value) for every string under `node`, nested tasks excluded."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("tasks", "errors", "finally", "afterExecution", "then", "else", "cases") and _holds_tasks(v):
                continue
            yield from _strings(v, str(k))
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item, key)
    elif isinstance(node, str):
        yield key, node


def _holds_tasks(value: YamlValue) -> bool:
    if isinstance(value, dict):  # a Switch's cases: {case: [tasks]}
        return any(_holds_tasks(v) for v in value.values())
    return isinstance(value, list) and any(isinstance(v, dict) and "type" in v and "id" in v for v in value)


def _list(value: YamlValue) -> list[YamlMap]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _short(type_name: str) -> str:
    return type_name.rsplit(".", 1)[-1]

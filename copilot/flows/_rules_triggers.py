"""Trigger rules beyond the schema: Webhook conditions and response type (D3), Flow trigger
preconditions and windows (B8, D4)."""

from __future__ import annotations

from collections.abc import Callable

from ._parse import Path
from ._rules import FlowIndex, type_is
from ._types import YamlMap, YamlValue

__all__ = ["TRIGGER_RULES"]

_WEBHOOK_CONTENT_TYPES = ("application/json", "text/plain")

# Preconditions filter types (1.x): which take a single `value`, which a list of `values`, which neither.
_VALUE_FILTERS = {"EQUAL_TO", "NOT_EQUAL_TO", "STARTS_WITH", "ENDS_WITH", "REGEX", "CONTAINS"}
_VALUES_FILTERS = {"IN", "NOT_IN"}

# What each 1.x `timeWindow` type takes, of deadline/startTime/endTime/windowAdvance.
_TIME_WINDOW_KEYS = {
    "DAILY_TIME_DEADLINE": {"deadline"},
    "DAILY_TIME_WINDOW": {"startTime", "endTime"},
    "DURATION_WINDOW": {"windowAdvance"},
    "SLIDING_WINDOW": set(),
}
_TIME_WINDOW_REQUIRED = {"DAILY_TIME_DEADLINE": {"deadline"}, "DAILY_TIME_WINDOW": {"startTime", "endTime"}}

# 2.x `window`: one way of bounding it, each with its own keys.
_WINDOW_SHAPES = {
    "deadline": {"deadline"},
    "from": {"from", "to"},
    "to": {"from", "to"},
    "every": {"every", "offset"},
    "lookback": {"lookback"},
}


def webhooks(index: FlowIndex) -> None:  # D3
    for path, trigger in index.triggers:
        if not type_is(trigger, "Webhook"):
            continue
        conditions = trigger.get("conditions")
        for position, condition in enumerate(conditions if isinstance(conditions, list) else []):
            if isinstance(condition, dict) and type_is(condition, "MultipleCondition"):
                index.report(
                    "webhook-condition",
                    (*path, "conditions", position, "type"),
                    "invalid webhook: conditions of type MultipleCondition are not supported.",
                    "Use a Flow trigger with preconditions to wait for several executions.",
                )
        content_type = trigger.get("responseContentType")
        if isinstance(content_type, str) and content_type not in _WEBHOOK_CONTENT_TYPES:
            index.report(
                "webhook-content-type",
                (*path, "responseContentType"),
                f"Webhook `responseContentType` must be application/json or text/plain, not '{content_type}'.",
                "Use application/json (the default) or text/plain.",
            )


def _flow_triggers(index: FlowIndex) -> list[tuple[Path, YamlMap]]:
    return [(p, t) for p, t in index.triggers if type_is(t, "Flow")]


def preconditions(index: FlowIndex) -> None:  # B8, D4 (Kestra 1.x)
    if index.version >= 2:
        return
    seen: dict[str, Path] = {}
    for path, trigger in _flow_triggers(index):
        pre = trigger.get("preconditions")
        if not isinstance(pre, dict):
            continue
        pre_id = pre.get("id")
        if isinstance(pre_id, str):
            if pre_id in seen:
                index.report(
                    "duplicate-precondition-id",
                    (*path, "preconditions", "id"),
                    f"Duplicate preconditions with id [{pre_id}].",
                    "Give each Flow trigger's preconditions its own id.",
                )
            seen.setdefault(pre_id, path)
        _filters(index, pre.get("where"), (*path, "preconditions", "where"))
        window = pre.get("timeWindow")
        if isinstance(window, dict):
            _time_window(index, window, (*path, "preconditions", "timeWindow"))


def _filters(index: FlowIndex, where: YamlValue, path: Path) -> None:
    for w_index, group in enumerate(where if isinstance(where, list) else []):
        filters = group.get("filters") if isinstance(group, dict) else None
        for f_index, item in enumerate(filters if isinstance(filters, list) else []):
            if not isinstance(item, dict) or not isinstance(item.get("type"), str):
                continue
            kind, item_path = item["type"], (*path, w_index, "filters", f_index)
            wants = "value" if kind in _VALUE_FILTERS else "values" if kind in _VALUES_FILTERS else None
            other = "values" if wants == "value" else "value"
            if wants and item.get(wants) is None and other in item:  # the one mistake: value ↔ values
                index.report(
                    "invalid-precondition-filter",
                    (*item_path, other),
                    f"`{other}` must be null for type {kind}, which takes `{wants}`.",
                    f"Write `{wants}:` instead of `{other}:`.",
                )
                continue
            for key in ("value", "values"):
                if key == wants and item.get(key) is None:
                    index.report(
                        "invalid-precondition-filter",
                        item_path,
                        f"`{key}` cannot be null for type {kind}.",
                        f"Add `{key}:` to the filter.",
                    )
                elif key != wants and key in item:
                    index.report(
                        "invalid-precondition-filter",
                        (*item_path, key),
                        f"`{key}` must be null for type {kind}.",
                        f"Remove `{key}`" + (f"; {kind} takes `{wants}`." if wants else f"; {kind} takes no value."),
                    )


def _time_window(index: FlowIndex, window: YamlMap, path: Path) -> None:
    kind = window.get("type")
    if not isinstance(kind, str) or kind not in _TIME_WINDOW_KEYS:
        return
    allowed = _TIME_WINDOW_KEYS[kind]
    for key in ("deadline", "startTime", "endTime", "windowAdvance"):
        if key in window and key not in allowed:
            index.report(
                "invalid-time-window",
                (*path, key),
                f"Time window of type {kind} cannot have a `{key}`.",
                f"{kind} takes {', '.join(f'`{k}`' for k in sorted(allowed)) or 'only `window`'}.",
            )
    for key in sorted(_TIME_WINDOW_REQUIRED.get(kind, set()) - window.keys()):
        index.report(
            "invalid-time-window",
            path,
            f"Time window of type {kind} must have a `{key}`.",
            f"Add `{key}:` (a time such as '09:00:00').",
        )


def dependencies(index: FlowIndex) -> None:  # D4 (Kestra 2.x)
    if index.version < 2:
        return
    for path, trigger in _flow_triggers(index):
        depends_on = trigger.get("dependsOn")
        if trigger.get("mode") == "AT_LEAST":
            minimum = trigger.get("minSatisfied")
            count = len(depends_on) if isinstance(depends_on, list) else 0
            if minimum is None:
                index.report(
                    "invalid-flow-dependency",
                    (*path, "mode"),
                    "`minSatisfied` is required when `mode` is AT_LEAST.",
                    "Add `minSatisfied:` with how many upstream entries must be satisfied.",
                )
            elif isinstance(minimum, int) and not 1 <= minimum <= count:
                index.report(
                    "invalid-flow-dependency",
                    (*path, "minSatisfied"),
                    f"`minSatisfied` must be between 1 and the number of `dependsOn` entries ({count}), not {minimum}.",
                )
        window = trigger.get("window")
        if isinstance(window, dict):
            shapes = {shape for key, shape in ((k, _shape_of(k)) for k in window) if shape}
            if len(shapes) > 1:
                index.report(
                    "invalid-time-window",
                    (*path, "window"),
                    "A Flow trigger `window` takes one of: `deadline`, `from`/`to`, `every` (with `offset`) or "
                    f"`lookback`; this one mixes {', '.join(sorted(shapes))}.",
                    "Keep one kind of window (plus `timezone`).",
                )
            elif shapes == {"from"} and not {"from", "to"} <= window.keys():
                index.report("invalid-time-window", (*path, "window"), "A daily `window` needs both `from` and `to`.")


def _shape_of(key: str) -> str | None:
    for shape, keys in _WINDOW_SHAPES.items():
        if key in keys:
            return "from" if shape == "to" else shape
    return None


TRIGGER_RULES: list[Callable[[FlowIndex], None]] = [webhooks, preconditions, dependencies]

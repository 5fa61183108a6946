"""What changed between Kestra 1.x and 2.x in flow syntax, as fix hints.

Source: Kestra's 2.0 migration guide (kestra-io/kestra2-flow-migration, flows-changes.md), summarised
in the project's research notes. The catalog says *whether* a type or property exists in a version;
this table says what to write instead.
"""

from __future__ import annotations

from collections.abc import Collection

__all__ = ["other_version_hint", "replacement_hint"]

_CORE = "io.kestra.plugin.core"

# Types removed in 2.x → what to use instead.
_REMOVED_IN_2_TYPES = {
    f"{_CORE}.flow.ForEach": f"Kestra 2.x replaced ForEach with `{_CORE}.flow.Loop` "
    "(iterate `values`, read `{{ item.value }}` / `{{ item.index }}`).",
    f"{_CORE}.flow.EachParallel": f"Use `{_CORE}.flow.Loop` with `concurrencyLimit: 0` (Kestra 2.x).",
    f"{_CORE}.flow.EachSequential": f"Use `{_CORE}.flow.Loop` (Kestra 2.x).",
    f"{_CORE}.flow.ForEachItem": f"Kestra 2.x removed ForEachItem; use `{_CORE}.flow.Loop` over a Subflow.",
    f"{_CORE}.flow.Template": f"Templates were removed in Kestra 2.x; use a `{_CORE}.flow.Subflow`.",
    f"{_CORE}.debug.Echo": f"Echo was removed in Kestra 2.x; use `{_CORE}.log.Log`.",
}
_ADDED_IN_2_TYPES = {
    f"{_CORE}.flow.Loop": f"Loop exists from Kestra 2.0; in Kestra 1.x use `{_CORE}.flow.ForEach`.",
}
_REMOVED_IN_2_PROPERTIES = {
    "pluginDefaults": "Kestra 2.x removed flow-level `pluginDefaults`; set the properties on each task, "
    "or define defaults on the server.",
    "taskDefaults": "`taskDefaults` was removed; set the properties on each task.",
    "listeners": "`listeners` were removed in Kestra 2.x; use `afterExecution` tasks.",
    "conditions": "Kestra 2.x replaced trigger `conditions` with `when:` (and Flow triggers use `dependsOn`).",
    "maxAttempt": "Kestra 2.x renamed `maxAttempt` to `maxAttempts`.",
    "workerGroup": "Kestra 2.x replaced `workerGroup` with `workerSelector`.",
    "preconditions": "Kestra 2.x replaced Flow-trigger `preconditions` with `dependsOn`, `window` and `when`.",
    "backfills": "Kestra 2.x removed Schedule `backfills` from the flow; start backfills from the UI or API.",
}

# What Kestra 2.x calls a property 1.x had (the same setting under its new name, or what takes its place).
_RENAMED_IN_2_PROPERTIES = {
    "workerGroup": "workerSelector",
    "maxAttempt": "maxAttempts",
    "conditions": "when",
    "preconditions": "dependsOn",
}


def other_version_hint(name: str, version: int, known: Collection[str]) -> str:
    """The hint for a property `name` its type has in the other Kestra version only (the catalog's since/until):
    it says so and names what to write in `version` when the type has a counterpart here (among `known`)."""
    other = 1 if version >= 2 else 2
    renamed = _RENAMED_IN_2_PROPERTIES if version >= 2 else {new: old for old, new in _RENAMED_IN_2_PROPERTIES.items()}
    counterpart = renamed.get(name)
    if counterpart in known:
        return f"`{name}` is a Kestra {other}.x property; in Kestra {version}.x use `{counterpart}`."
    return f"`{name}` is a Kestra {other}.x property, not a Kestra {version}.x one: remove it."


def replacement_hint(name: str, version: int, *, context: str = "type") -> str | None:
    """A hint for a type or property `name` that does not exist in Kestra `version`, if one is known."""
    if context == "property":
        return _REMOVED_IN_2_PROPERTIES.get(name) if version >= 2 else None
    if version >= 2:
        if name in _REMOVED_IN_2_TYPES:
            return _REMOVED_IN_2_TYPES[name]
        if name.startswith(f"{_CORE}.condition."):
            return "Kestra 2.x removed condition types; express the condition with the trigger's `when:`."
        if name.startswith("io.kestra.core."):
            return "Kestra 2.x accepts only the `io.kestra.plugin.core.*` names; old aliases were removed."
        return None
    return _ADDED_IN_2_TYPES.get(name)

"""The flows `validate` checks: the files named, and the Kestra flows under a folder or matched by a glob.

    found = collect_flows(["flows/", "flows/**/*.yml", "one.yml", "-"], read=read_flow_file)
    found.flows      # [(name, text)] to validate, in order, each file once
    found.skipped    # YAML files found that are not flows (CI configs, docker-compose, Kestra tests …)
    found.problems   # [(name, error)]: a file that cannot be read, a folder or glob with no flow

A folder is walked recursively in sorted order; its *.yml and *.yaml files are taken, and hidden files and
folders (.git, .venv, .pre-commit-config.yaml) are left out, as a shell's glob leaves them out. A glob is
expanded here, `**` included, because the shell of a CI job does not always expand `**` (and a quoted one
reaches the command as it is). An argument is a glob when it holds `*`, `?` or `[` and no file has that name.

What a folder or a glob finds (its *.yml and *.yaml files) is checked only if it looks like a flow
(`looks_like_flow`): a repository of flows holds other YAML. A file named on the command line is always
checked, unless `flows_only` (what the pre-commit hook passes: it names every YAML file that changed).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .errors import CopilotError
from .fileio import MAX_FLOW_BYTES

__all__ = ["FLOW_KEYS", "FlowFiles", "collect_flows", "is_glob", "looks_like_flow"]

FLOW_KEYS = ("id", "namespace", "tasks")
"""A flow has at least two of these at its top level (all three when valid: one may be what is broken)."""
_NOT_A_FLOW_KEY = "flowId"  # Kestra's tests and apps have an id and a namespace, and name the flow they are about
_YAML_SUFFIXES = (".yml", ".yaml")
_GLOB_MAGIC = re.compile(r"[*?[]")
# A mapping key at the start of a line, maybe quoted: `id:`, `"namespace" :`, `tasks:` (group 1: the indent)
_KEY_LINE = re.compile(r"""^([ ]*)(['"]?)([A-Za-z_][\w.-]*)\2[ \t]*:(?=[ \t]|$)""", re.MULTILINE)
_CONTENT_LINE = re.compile(r"^([ ]*)(?![ ]*(?:#|---|\.\.\.|%|$))", re.MULTILINE)


@dataclass
class FlowFiles:
    flows: list[tuple[str, str]] = field(default_factory=list)  # (name, text), in order, each file once
    skipped: list[str] = field(default_factory=list)  # YAML files that are not flows
    problems: list[tuple[str, CopilotError]] = field(default_factory=list)  # (file or argument, what is wrong)
    searched: bool = False  # a folder or a glob was given: many files, a summary


def is_glob(argument: str) -> bool:
    """A pattern for the command to expand: it holds `*`, `?` or `[` and is not the name of a file."""
    return bool(_GLOB_MAGIC.search(argument)) and not os.path.lexists(os.path.expanduser(argument))


def looks_like_flow(text: str) -> bool:
    """At least two of `id`, `namespace`, `tasks` at the top level, and no `flowId` (a Kestra test or app).

    Read from the text, not the parsed YAML, so that a flow with a syntax error is still recognised and
    reported rather than skipped. The top level is the indentation of the first line that is not blank, a
    comment or a document marker: flows pasted from docs are sometimes indented as a whole, and YAML
    accepts them."""
    first = _CONTENT_LINE.search(text)
    if first is None:
        return False
    indent = first.group(1)
    keys = {match[3] for match in _KEY_LINE.finditer(text) if match[1] == indent}
    return len(keys.intersection(FLOW_KEYS)) >= 2 and _NOT_A_FLOW_KEY not in keys


def collect_flows(arguments: Sequence[str], *, read: Callable[[str], str], flows_only: bool = False) -> FlowFiles:
    """The flows to check, from files ('-' is stdin), folders and globs; `read` reads one file (or raises
    CopilotError). A file reached twice is checked once. A folder with no YAML file, a glob matching nothing,
    or either holding YAML but no flow, is a problem: a CI job pointed at the wrong place must not pass."""
    found = FlowFiles()
    seen: dict[str, bool] = {}  # a file's key → it is a flow (or could not be read: reported, counts as one)
    for argument in arguments:
        searched = argument != "-" and (os.path.isdir(os.path.expanduser(argument)) or is_glob(argument))
        found.searched |= searched
        if not searched:
            _take(found, seen, argument, read, check=flows_only)
            continue
        names = _search(argument, found)
        if names is None:  # not listable: already a problem
            continue
        if not names:
            found.problems.append((argument, _nothing_found(argument)))
            continue
        flows = sum(_take(found, seen, name, read, check=True) for name in names)
        if not flows:
            found.problems.append((argument, _no_flow(argument, len(names))))
    return found


def _take(found: FlowFiles, seen: dict[str, bool], name: str, read: Callable[[str], str], *, check: bool) -> bool:
    """Read one file into `found` (once); True when it is a flow to check (or a problem to report)."""
    key = name if name == "-" else os.path.normpath(os.path.expanduser(name))
    if key in seen:
        return seen[key]
    if check and name != "-" and _larger_than_a_flow(name):  # an OpenAPI spec, say: not an error, not a flow
        found.skipped.append(name)
        seen[key] = False
        return False
    try:
        text = read(name)
    except CopilotError as exc:
        found.problems.append((name, exc))
        seen[key] = True
        return True
    seen[key] = not check or looks_like_flow(text)
    if seen[key]:
        found.flows.append((name, text))
    else:
        found.skipped.append(name)
    return seen[key]


def _larger_than_a_flow(name: str) -> bool:
    try:
        return os.stat(os.path.expanduser(name)).st_size > MAX_FLOW_BYTES
    except OSError:
        return False  # `read` says what is wrong with it


def _search(argument: str, found: FlowFiles) -> list[str] | None:
    """The YAML files a folder holds or a glob matches, sorted; None when the folder cannot be listed."""
    path = os.path.expanduser(argument)
    if os.path.isdir(path):
        return _walk(argument, found)
    names: list[str] = []
    for match in sorted(glob.glob(path, recursive=True)):
        if os.path.isdir(match):  # `flows/*` matches folders too: as a shell would pass them, they are walked
            names.extend(_walk(match, found) or [])
        elif _is_yaml(match):
            names.append(match)
    return names


def _walk(folder: str, found: FlowFiles) -> list[str] | None:
    """The *.yml and *.yaml files under `folder`, sorted by their path, hidden files and folders left out;
    None when `folder` itself cannot be listed. A folder that cannot be listed is a problem: its flows
    would go unchecked."""
    top = os.path.expanduser(folder)
    unlisted: list[str] = []

    def cannot_list(exc: OSError) -> None:
        where = exc.filename or top
        unlisted.append(where)
        found.problems.append((where, CopilotError(f"Cannot list {where}: {exc.strerror or exc}.")))

    prefix = [] if os.path.normpath(folder) == os.curdir else [folder]  # `validate .` names flows/a.yml
    paths: list[tuple[list[str], str]] = []
    for root, folders, files in os.walk(top, onerror=cannot_list):
        folders[:] = [name for name in folders if not name.startswith(".")]
        relative = os.path.relpath(root, top)
        parts = [] if relative == os.curdir else relative.split(os.sep)
        for name in files:
            if not name.startswith(".") and _is_yaml(name):
                paths.append(([*parts, name], os.path.join(*prefix, *parts, name)))
    if top in unlisted:
        return None
    return [name for _, name in sorted(paths)]


def _is_yaml(name: str) -> bool:
    return name.lower().endswith(_YAML_SUFFIXES)


def _nothing_found(argument: str) -> CopilotError:
    if is_glob(argument):
        return CopilotError(
            f"No YAML file (*.yml, *.yaml) matches {argument}.",
            hint="Check the pattern: kestra-copilot expands it (`**` matches any depth of folders); hidden "
            "files and folders are left out unless the pattern names them (`.kestra/*.yml`).",
        )
    return CopilotError(
        f"{argument} holds no YAML file (*.yml, *.yaml).",
        hint="Give the folder that holds the flows; hidden folders (.git, .venv …) are not searched.",
    )


def _no_flow(argument: str, files: int) -> CopilotError:
    some = "its YAML file is not a flow" if files == 1 else f"none of its {files} YAML files is a flow"
    return CopilotError(
        f"{argument} holds no Kestra flow: {some}.",
        hint=f"A flow has at least two of {', '.join(f'`{key}`' for key in FLOW_KEYS)} at its top level. Give "
        "the folder that holds the flows, or name a file to check it whatever it holds.",
    )

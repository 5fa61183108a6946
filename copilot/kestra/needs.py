"""What a flow needs from the server it is about to run on, checked before it is deployed: the KV keys its
`kv('…')` expressions read (in the namespace it runs in, or the one they name), the plugin types it uses
(from the server's plugin list), and the secrets it reads — which open-source Kestra cannot list, so they
are named with where they must be set.

    needs = await check_needs(client, copy_yaml, "company.team.copilot_test", home="company.team")
    needs.missing          # ["KV key BUCKET is not set in company.team.copilot_test …", "plugin … "]
    needs.notes            # the secrets to set, optional keys not set, what could not be checked
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..flows import YamlMap, flow_needs, iter_tasks, parse_flow, plugin_types
from ..wording import counted
from .client import KestraClient
from .errors import KestraError, KestraNotFound

__all__ = ["MissingOnServer", "ServerNeeds", "check_needs"]

KV_SET = "io.kestra.plugin.core.kv.Set"


class MissingOnServer(KestraError):
    """The flow needs what the server does not have (a KV key, a plugin): it is not deployed or run."""


@dataclass(frozen=True)
class ServerNeeds:
    """The check's findings, worded for the user: `missing` stops a test-run, `notes` do not."""

    kv_keys: int = 0  # how many KV reads were checked
    plugins: int = 0  # how many plugin types
    secrets: tuple[str, ...] = ()
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def refuse(self, what: str) -> None:
        """Raise MissingOnServer when something is missing: `what` was not deployed or run."""
        if self.missing:
            found = "\n".join(f"- {m}" for m in self.missing)
            raise MissingOnServer(
                f"{what} needs what the server does not have, so it was not deployed or run:\n{found}",
                hint="Set up what is missing on the server, then test-run again.",
            )

    def lines(self) -> list[str]:
        checked = f"checked the server: {counted(self.kv_keys, 'KV key')}, {counted(self.plugins, 'plugin type')}"
        verdict = f"{checked} — {len(self.missing)} missing" if self.missing else f"{checked} — all there"
        return [verdict, *(f"    missing: {m}" for m in self.missing), *(f"    note: {n}" for n in self.notes)]


async def check_needs(client: KestraClient, flow_yaml: str, namespace: str, *, home: str | None = None) -> ServerNeeds:
    """Check `flow_yaml` (deployed into `namespace`; `home` is the flow's own namespace, where its keys may be
    set instead) against the server. Only what the server can tell is checked; what it cannot is a note."""
    data = parse_flow(flow_yaml).data
    needs = flow_needs(flow_yaml)
    missing: list[str] = []
    notes: list[str] = []
    set_here = _keys_set_by_the_flow(data, namespace)
    reads = [read for read in needs.kv if (read.namespace or namespace, read.key) not in set_here]
    for read in reads:
        where = read.namespace or namespace
        try:
            if await client.kv_get(where, read.key) is not None:
                continue
            elsewhere = read.namespace is None and home and await client.kv_get(home, read.key) is not None
        except KestraError as exc:
            notes.append(f"KV key {read.key} in {where} could not be checked ({exc}).")
            continue
        found = (
            f" It is set in {home}, but kv('{read.key}') reads the namespace the flow runs in: set it in {where} "
            "too for the test-run."
            if elsewhere
            else f" Set it in Kestra (Namespaces → {where} → KV Store) before the run."
        )
        if read.required:
            missing.append(f"KV key {read.key} is not set in {where}, and kv('{read.key}') fails without it.{found}")
        else:
            notes.append(f"KV key {read.key} is not set in {where} (read with errorOnMissing=false: null).")
    types = sorted(set(plugin_types({k: v for k, v in data.items() if k != "pluginDefaults"})))
    missing += await _missing_plugins(client, types, notes)
    if needs.secrets:
        names = ", ".join(needs.secrets)
        notes.append(
            f"The flow reads the {'secret' if len(needs.secrets) == 1 else 'secrets'} {names}: Kestra cannot list "
            "secrets, so they are not checked. On "
            "open-source Kestra each is an environment variable of the server, SECRET_<NAME> with the value "
            f"base64-encoded; on Enterprise Edition, the Secrets of {home or namespace} (or a parent namespace)."
        )
    return ServerNeeds(len(reads), len(types), needs.secrets, missing, notes)


def _keys_set_by_the_flow(data: YamlMap, namespace: str) -> set[tuple[str, str]]:
    """(namespace, key) of every KV.Set task with a literal key: a key the flow writes itself is not missing."""
    found: set[tuple[str, str]] = set()
    for _, task in iter_tasks(data):
        key, where = task.get("key"), task.get("namespace") or namespace
        if task.get("type") == KV_SET and isinstance(key, str) and isinstance(where, str) and "{{" not in key:
            found.add((where, key))
    return found


async def _missing_plugins(client: KestraClient, types: list[str], notes: list[str]) -> list[str]:
    """The types the server has no plugin for: those not in its plugin list, confirmed one by one (an alias,
    or a list the server pages, is found by its own page)."""
    try:
        listing = await client.plugins()
    except KestraError as exc:
        notes.append(f"The server's plugins could not be listed ({exc}): the flow's types are not checked.")
        return []
    known: set[str] = set()
    for plugin in listing:  # {name, tasks: [{cls …}], triggers: […], taskRunners: […], aliases: [str] …}
        for key, items in plugin.items():
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and item.get("cls"):
                    known.add(str(item["cls"]))
                elif key == "aliases" and isinstance(item, str):
                    known.add(item)
    missing: list[str] = []
    for cls in (t for t in types if t not in known):
        try:
            await client.plugin_markdown(cls)
        except KestraNotFound:
            missing.append(
                f"plugin type {cls} is not installed on {client.url}: install its plugin on the server, or ask "
                "for a flow with a plugin the server has."
            )
        except KestraError as exc:
            notes.append(f"plugin type {cls} could not be checked ({exc}).")
    return missing

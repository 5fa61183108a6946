"""Where a flow's verdict comes from (Workspace.flow_schema): the connected server's schema under `--server`,
else Kestra's hosted live schema (cached with its ETag, revalidated after a day, the cached copy offline), else
the bundled catalog. Loopback only: the "hosted" schema is a server these tests start, serving the real
Kestra-generated sample of ../shared/kestra-api; the default test environment never fetches (conftest)."""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from copilot.cli import main
from copilot.config import Settings, load_settings
from copilot.flows import SchemaLoadError, validate_flow
from copilot.schema_store import LIVE_MAX_AGE, live_schema
from copilot.workspace import Workspace
from tests.conftest import real_flows
from tests.fakes.hosted_schema import HostedSchema
from tests.fakes.kestra import FakeKestra

LOG = "io.kestra.plugin.core.log.Log"  # in the sample schema
FLOW = f"id: hello\nnamespace: company.team\ntasks:\n  - id: log\n    type: {LOG}\n    message: hi\n"
DAY = 24 * 3600.0


def _any_of_with(node: object, ref: str) -> Iterator[list[object]]:
    """Every `anyOf` list of the schema with a branch that is `{"$ref": ref}`."""
    if isinstance(node, dict):
        branches = node.get("anyOf")
        if isinstance(branches, list) and {"$ref": ref} in branches:
            yield branches
        for value in node.values():
            yield from _any_of_with(value, ref)
    elif isinstance(node, list):
        for item in node:
            yield from _any_of_with(item, ref)


# --- the settings -----------------------------------------------------------------------------------------
def test_the_live_schema_is_on_by_default_at_kestras_url_but_never_in_the_tests() -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(Settings)}
    assert defaults["live_schema"] is True
    assert defaults["live_schema_url"] == "https://api.kestra.io/v1/plugins/schemas/flow"
    assert load_settings().live_schema is False  # conftest: no test reaches the network for a schema
    assert Settings().live_schema is False  # not even one a test makes itself


def test_the_live_schema_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KESTRA_COPILOT_LIVE_SCHEMA", "on")
    monkeypatch.setenv("KESTRA_COPILOT_LIVE_SCHEMA_URL", "https://mirror.example.com/schema/")
    settings = load_settings()
    assert settings.live_schema and settings.live_schema_url == "https://mirror.example.com/schema"


# --- fetched, cached, revalidated ---------------------------------------------------------------------------
def test_fetched_once_then_used_for_a_day_then_revalidated_by_etag(hosted: HostedSchema, tmp_path: Path) -> None:
    first = live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0)
    assert first.note is None and LOG in first.schema.type_index
    assert first.schema.source.startswith(f"Kestra's live schema ({hosted.url}, fetched ")
    live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0 + DAY / 2)
    assert hosted.requests == [None]  # within a day: the cached copy, no request
    again = live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0 + LIVE_MAX_AGE + 1)
    assert hosted.requests == [None, '"v1"'] and LOG in again.schema.type_index  # 304: not downloaded again
    live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0 + LIVE_MAX_AGE + DAY / 2)
    assert len(hosted.requests) == 2  # the 304 kept it another day


def test_a_changed_schema_is_downloaded_when_revalidated(hosted: HostedSchema, tmp_path: Path) -> None:
    live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0)
    raw = json.loads(hosted.body or b"")
    raw["definitions"]["io.kestra.plugin.acme.New"] = {
        "type": "object",
        "properties": {"type": {"const": "io.kestra.plugin.acme.New"}},
        "required": ["type"],
    }
    for branches in _any_of_with(raw, f"#/definitions/{LOG}"):  # a task type
        branches.append({"$ref": "#/definitions/io.kestra.plugin.acme.New"})
    hosted.body, hosted.etag = json.dumps(raw).encode(), '"v2"'
    newer = live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0 + 2 * DAY)
    assert "io.kestra.plugin.acme.New" in newer.schema.plugin_types() and hosted.requests[-1] == '"v1"'


def test_offline_the_cached_copy_is_used_with_its_date(hosted: HostedSchema, tmp_path: Path) -> None:
    live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0)  # fetched on 1970-01-12
    hosted.body = None  # down
    offline = live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0 + 3 * DAY)
    assert offline.note and "using the copy fetched on 1970-01-1" in offline.note and "503" in offline.note
    assert LOG in offline.schema.type_index
    asked = len(hosted.requests)
    live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0 + 3 * DAY + 60)
    assert len(hosted.requests) == asked  # not asked again within the hour: offline runs are not slowed


def test_never_fetched_and_unreachable_is_an_error_the_caller_falls_back_from(
    hosted: HostedSchema, tmp_path: Path
) -> None:
    hosted.body = None
    with pytest.raises(SchemaLoadError, match="using the bundled catalog") as raised:
        live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path)
    assert "KESTRA_COPILOT_LIVE_SCHEMA=false" in (raised.value.hint or "")


def test_refresh_asks_now_whatever_the_copys_age(hosted: HostedSchema, tmp_path: Path) -> None:
    """`schema --source live --refresh`: a schema Kestra published this morning is picked up now, not tomorrow
    (with the ETag: an unchanged one is not downloaded again)."""
    live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0)
    live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0 + 60, refresh=True)
    assert hosted.requests == [None, '"v1"']  # asked again within the day, and answered 304
    hosted.etag = '"v2"'
    live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0 + 120, refresh=True)
    assert hosted.requests[-1] == '"v1"' and len(hosted.requests) == 3  # a new ETag: downloaded


def test_a_damaged_copy_offline_is_said_to_be_damaged(hosted: HostedSchema, tmp_path: Path) -> None:
    live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0)
    (copy,) = [path for path in (tmp_path / "schemas").glob("live-*.json") if not path.name.endswith(".meta.json")]
    copy.write_bytes(copy.read_bytes()[:5000])  # cut short: not JSON
    hosted.body = None  # and offline
    with pytest.raises(SchemaLoadError) as raised:
        live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0 + 60)
    assert "the cached copy was damaged and is not used; using the bundled catalog" in str(raised.value)


def test_a_damaged_copy_is_not_a_reason_to_ask_again_within_the_hour(hosted: HostedSchema, tmp_path: Path) -> None:
    live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0)
    (copy,) = [path for path in (tmp_path / "schemas").glob("live-*.json") if not path.name.endswith(".meta.json")]
    copy.write_bytes(copy.read_bytes()[:5000])
    hosted.body = None
    for later in (2 * DAY, 2 * DAY + 60):  # the second run, within the hour, asks nothing
        with pytest.raises(SchemaLoadError, match="the cached copy was damaged"):
            live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0 + later)
    assert len(hosted.requests) == 2  # the first fetch, then one try
    with pytest.raises(SchemaLoadError, match="the cached copy was damaged and is not used; using the bundled"):
        live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0 + 2 * DAY + 120, refresh=True)


def test_a_network_that_takes_the_connection_and_never_answers_is_given_up_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A captive portal or a proxy that swallows requests: the wait is short and said in words."""
    import socket

    import copilot.schema_store

    monkeypatch.setattr(copilot.schema_store, "LIVE_READ_WAIT", 0.3)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # takes connections, never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1/plugins/schemas/flow"
        with pytest.raises(SchemaLoadError) as raised:
            live_schema(url, kestra_version=1, cache_dir=tmp_path)
    finally:
        silent.close()
    assert "(no answer in time); using the bundled catalog" in str(raised.value)


def test_a_corrupt_download_is_not_kept_and_the_previous_copy_judges(hosted: HostedSchema, tmp_path: Path) -> None:
    live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0)
    hosted.body, hosted.etag = (hosted.body or b"")[:5000], '"cut"'  # cut short: not JSON
    later = live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0 + 2 * DAY)
    assert later.note and "is not JSON" in later.note and "using the copy fetched on" in later.note
    assert LOG in later.schema.type_index
    with pytest.raises(SchemaLoadError, match="is not JSON"):  # nothing cached: the bundled catalog judges
        live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path / "fresh")


def test_what_the_validator_derives_is_kept_by_digest(
    hosted: HostedSchema, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh process does not index a multi-MB schema again: its facts are kept under its content's digest."""
    from copilot.flows._schema import FlowSchema

    indexed: list[object] = []
    real = FlowSchema._index_types
    monkeypatch.setattr(FlowSchema, "_index_types", lambda self: (indexed.append(self), real(self))[1])
    live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0, merge=False)
    live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0, merge=False)
    assert len(indexed) == 1


def test_the_merged_schema_is_kept_and_a_fresh_run_neither_parses_nor_merges_again(
    hosted: HostedSchema, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kept by (the live schema's digest, the Kestra version, the bundled catalog's fingerprint): the next run
    reads the merged schema and its facts back, and nothing is derived."""
    import copilot.flows._merge
    import copilot.schema_store
    from copilot.flows._schema import FlowSchema

    first = live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0).schema
    monkeypatch.setattr(FlowSchema, "_index_types", _must_not_run)
    monkeypatch.setattr(copilot.flows._merge, "merge_schemas", _must_not_run)
    monkeypatch.setattr(copilot.schema_store, "_compile", _must_not_run)  # the live text is not even parsed
    again = live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0 + 60).schema
    assert again.raw == first.raw and again.plugin_types() == first.plugin_types()
    assert again._prunable_definitions == first.facts()[1]  # the facts read back, not derived
    assert again.source == first.source and again.is_valid({"id": "a", "namespace": "b", "tasks": []}) is False
    monkeypatch.undo()
    other = live_schema(hosted.url, kestra_version=2, cache_dir=tmp_path, now=1_000_000.0 + 60).schema
    assert other.source.endswith("with the Kestra 2.x flow model")  # another version: merged for it


def test_a_fresh_run_reads_only_what_a_flow_reaches_and_judges_as_the_merged_schema_in_memory(
    hosted: HostedSchema, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merged schema is read back with each definition kept apart, read when a flow reaches it, and the copy's
    digest is kept with it: a run neither reads the multi-MB text nor decodes a thousand plugins to judge one
    flow — and its verdicts are the in-memory merged schema's, word for word (valid flows, invented properties,
    wrong values: the compiled validator and the reference one that explains)."""
    import copilot.schema_store
    from copilot.flows import validate_flow
    from copilot.flows._schema import LazyDefinitions

    merged = live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0).schema
    monkeypatch.setattr(copilot.schema_store, "_digest", _must_not_run)  # the copy is not read to know its digest
    again = live_schema(hosted.url, kestra_version=1, cache_dir=tmp_path, now=1_000_000.0 + 60).schema
    lazy = again.definitions
    assert isinstance(lazy, LazyDefinitions)
    assert validate_flow(FLOW, again).valid
    assert len(lazy._read) < len(lazy) / 4  # the flow model and Log, not every plugin
    flows = [record["yaml"] for record in itertools.islice(real_flows(), 120)]
    mutated = [
        FLOW.replace("message: hi", "mesage: hi"),  # an invented property: a did-you-mean
        FLOW.replace("message: hi", "message: hi\n    level: LOUD"),  # a value outside an enum
        FLOW.replace(LOG, "io.kestra.plugin.acme.Unknown") + "    tasks:\n      - id: x\n        type: nope\n",
    ]
    for text in [*flows, *mutated]:
        expected = [(d.code, d.line, d.message) for d in validate_flow(text, merged).diagnostics]
        assert [(d.code, d.line, d.message) for d in validate_flow(text, again).diagnostics] == expected, text


def _must_not_run(*args: object, **kwargs: object) -> None:
    raise AssertionError("derived again instead of read from the cache")


# --- which source judges ------------------------------------------------------------------------------------
def test_validate_says_the_live_schema_judged_and_a_second_run_asks_nothing(
    live_on: HostedSchema, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "flow.yml"
    flow.write_text(FLOW)
    assert main(["validate", str(flow)]) == 0
    assert f"valid (0 errors, 0 warnings) — Kestra's live schema ({live_on.url}, fetched " in capsys.readouterr().out
    assert main(["validate", str(flow), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["schema"].startswith("Kestra's live schema (")
    assert len(live_on.requests) == 1


def test_a_property_the_bundled_catalog_lacks_is_judged_by_the_live_schema(
    live_on: HostedSchema, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A type only the live schema knows is checked strictly (an invented property is an error)."""
    raw = json.loads(live_on.body or b"")
    raw["definitions"]["io.kestra.plugin.acme.Brand.New"] = {
        "type": "object",
        "properties": {"id": {"type": "string"}, "type": {"const": "io.kestra.plugin.acme.Brand.New"}},
        "required": ["id", "type"],
        "additionalProperties": False,
    }
    for branches in _any_of_with(raw, f"#/definitions/{LOG}"):  # where a task may be, it may be one too
        branches.append({"$ref": "#/definitions/io.kestra.plugin.acme.Brand.New"})
    live_on.body = json.dumps(raw).encode()
    flow = tmp_path / "flow.yml"
    flow.write_text(FLOW.replace(LOG, "io.kestra.plugin.acme.Brand.New").replace("message: hi", "invented: 1"))
    assert main(["validate", str(flow)]) == 1
    out = capsys.readouterr().out
    assert "unknown-property" in out and "invented" in out, out


def test_offline_with_no_copy_the_bundled_catalog_judges_and_validate_says_why(
    live_on: HostedSchema, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live_on.body = None
    flow = tmp_path / "flow.yml"
    flow.write_text(FLOW)
    assert main(["validate", str(flow)]) == 0
    captured = capsys.readouterr()
    assert "— bundled catalog (Kestra 1.x)" in captured.out
    assert "note: Could not fetch Kestra's live schema" in captured.err and "using the bundled catalog" in captured.err


def test_turned_off_nothing_is_fetched(hosted: HostedSchema, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KESTRA_COPILOT_LIVE_SCHEMA_URL", hosted.url)  # live_schema stays false (conftest)
    loaded = Workspace(load_settings()).flow_schema(1)
    assert loaded.schema.source == "bundled catalog (Kestra 1.x)" and loaded.note is None and hosted.requests == []


def test_the_engine_judges_with_the_live_schema(live_on: HostedSchema) -> None:
    setup = Workspace(load_settings()).engine(recipe="default")
    assert setup.engine.schema is not None and setup.engine.schema.source.startswith("Kestra's live schema (")


def test_validate_server_judges_with_the_servers_own_schema(
    live_on: HostedSchema, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = json.loads(live_on.body or b"")
    with FakeKestra(flow_schema=schema) as kestra:
        monkeypatch.setenv("KESTRA_URL", kestra.url)
        monkeypatch.setenv("KESTRA_USERNAME", kestra.username)
        monkeypatch.setenv("KESTRA_PASSWORD", kestra.password)
        flow = tmp_path / "flow.yml"
        flow.write_text(FLOW)
        main(["validate", str(flow), "--server", "--format", "json"])
    payload = json.loads(capsys.readouterr().out)
    assert (
        payload["schema"]
        == f"the flow schema of Kestra 1.3.2 at {kestra.url} for plugins, with the Kestra 1.x flow model"
    )
    assert live_on.requests == []  # the server's schema comes first: the hosted one is not asked


def test_a_server_schema_that_is_not_one_passes_to_the_next_source(
    tmp_path: Path, kestra: FakeKestra, capsys: pytest.CaptureFixture[str]
) -> None:
    kestra.flow_schema = {"$schema": "http://json-schema.org/draft-07/schema#"}  # no definitions: not a flow schema
    flow = tmp_path / "flow.yml"
    flow.write_text(FLOW)
    main(["validate", str(flow), "--server", "--format", "json"])
    captured = capsys.readouterr()
    assert json.loads(captured.out)["schema"] == "bundled catalog (Kestra 1.x)"
    assert "is not a Kestra flow schema" in captured.err


def test_the_assistant_judges_by_the_configured_servers_plugins(
    live_on: HostedSchema, kestra: FakeKestra, tmp_path: Path
) -> None:
    """A chat or `ask` with a Kestra server configured: its schema first (exactly its plugins, at their versions;
    asked once per server version), the hosted one not even fetched. A plugin the server lacks is an error that
    says so, though the bundled catalog knows it."""
    kestra.flow_schema = json.loads(live_on.body or b"")  # the sample: Log and Request only
    setup = Workspace(load_settings()).engine(recipe="no-retrieval")
    assert setup.engine.schema is not None
    assert setup.engine.schema.source.startswith(f"the flow schema of Kestra 1.3.2 at {kestra.url} for plugins")
    assert not any("schema" in note for note in setup.notes) and live_on.requests == []
    assert setup.engine.schema.origin == "server"  # what the status bar and index status name it by
    python = FLOW.replace(LOG, "io.kestra.plugin.scripts.python.Script").replace("message: hi", "script: print(1)")
    verdict = validate_flow(python, setup.engine.schema, kestra_version=1)
    assert [d.code for d in verdict.errors] == ["unknown-type"], verdict.errors
    assert "not among the server's plugins" in verdict.errors[0].message
    Workspace(load_settings()).engine(recipe="no-retrieval")
    schema_asks = [path for _, path in kestra.requests if path.endswith("/plugins/schemas/flow")]
    assert len(schema_asks) == 1  # a second start reads it from the cache (the server asked its version only)
    assert "a Kestra plugin this server does not have installed" in (verdict.errors[0].hint or "")


def test_a_server_that_cannot_give_its_schema_is_said_and_the_next_source_judges(
    live_on: HostedSchema, kestra: FakeKestra
) -> None:
    kestra.fail_with, kestra.fail_times = 500, 10
    setup = Workspace(load_settings()).engine(recipe="no-retrieval")
    assert setup.engine.schema is not None and setup.engine.schema.source.startswith("Kestra's live schema (")
    assert setup.engine.schema.origin == "live"
    assert any(note.startswith("The flow schema of the Kestra server at ") for note in setup.notes), setup.notes
    kestra.fail_times = 0
    kestra.flow_schema = None  # an older server, without the endpoint: quietly the next source
    again = Workspace(load_settings()).engine(recipe="no-retrieval")
    assert not any("schema" in note for note in again.notes) and again.engine.schema is not None
    assert again.engine.schema.source.startswith("Kestra's live schema (")

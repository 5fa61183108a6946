"""The schema in force, shown: `schema --source live|server|bundled` writes that source's flow schema (by default
the one flows are judged by), and `index status` says which catalog is in force and how many plugin types it
holds. Loopback only: the "hosted" schema is conftest's `hosted` server (the real Kestra sample)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from copilot.cli import main
from copilot.flows import bundled_schema
from tests.fakes.hosted_schema import HostedSchema
from tests.fakes.kestra import FakeKestra

BUNDLED = "bundled catalog (Kestra 1.x)"


def written(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[dict[str, object], str]:
    assert main(["schema", *arguments]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


# --- schema --source ----------------------------------------------------------------------------------------
def test_by_default_the_schema_in_force_and_bundled_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    default, note = written(capsys)  # the live schema is off (conftest): the bundled catalog's
    assert default == bundled_schema(1).raw and note == ""
    assert written(capsys, "--source", "bundled", "--kestra-version", "2")[0] == bundled_schema(2).raw


def test_the_live_schema_as_fetched_then_from_the_cache(
    live_on: HostedSchema, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = json.loads(live_on.body or b"")
    in_force = written(capsys)[0]  # what flows are judged by: the sample's plugins with our 1.x flow model
    assert in_force != sample and in_force["$ref"] == "#/definitions/io.kestra.core.models.flows.Flow"
    log = "io.kestra.plugin.core.log.Log"
    assert in_force["definitions"][log] != bundled_schema(1).definitions[log]  # the sample's Log, not ours
    assert "copilot.family.task" in in_force["definitions"]
    assert written(capsys, "--source", "live")[0] == sample  # as Kestra publishes it
    assert live_on.requests == [None]  # fetched once, then the cached copy


def test_the_live_schema_when_it_cannot_be_had(
    hosted: HostedSchema, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schema", "--source", "live"]) == 2  # turned off (conftest)
    err = capsys.readouterr().err
    assert "Kestra's live schema is turned off" in err and "hint: Turn it on (KESTRA_COPILOT_LIVE_SCHEMA=true)" in err
    monkeypatch.setenv("KESTRA_COPILOT_LIVE_SCHEMA", "true")
    monkeypatch.setenv("KESTRA_COPILOT_LIVE_SCHEMA_URL", hosted.url)
    hosted.body = None  # down, and never fetched
    assert main(["schema", "--source", "live"]) == 2
    err = capsys.readouterr().err
    assert "Could not fetch Kestra's live schema from" in err and "no usable copy is cached" in err
    assert "using the bundled catalog" not in err and "--source bundled" in err
    default, note = written(capsys)  # what is in force: the bundled catalog, and why
    assert default == bundled_schema(1).raw and "note: Could not fetch Kestra's live schema" in note


def test_a_servers_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "--source", "server"]) == 2
    err = capsys.readouterr().err
    assert "No Kestra server is configured." in err and "hint: Set KESTRA_URL" in err
    schema = {"$ref": "#/definitions/Flow", "definitions": {"Flow": {"type": "object"}}}
    with FakeKestra(flow_schema=schema) as kestra:
        monkeypatch.setenv("KESTRA_URL", kestra.url)
        monkeypatch.setenv("KESTRA_USERNAME", kestra.username)
        monkeypatch.setenv("KESTRA_PASSWORD", kestra.password)
        target = tmp_path / "server-schema.json"
        assert main(["schema", "--source", "server", "-o", str(target)]) == 0
        assert json.loads(target.read_text()) == schema
        kestra.password = "changed"
        assert main(["schema", "--source", "server"]) == 2
        assert "hint:" in capsys.readouterr().err  # refused: said as every Kestra command says it


# --- index status: the catalog in force ---------------------------------------------------------------------
def test_index_status_names_the_bundled_catalog_and_counts_its_plugin_types(
    capsys: pytest.CaptureFixture[str],
) -> None:
    count = len(bundled_schema(1).plugin_types())
    assert count > 350
    assert main(["index", "status"]) == 0
    out = capsys.readouterr().out
    assert "is empty" in out and f"catalog:    {BUNDLED}, {count:,} plugin types\n" in out and "note:" not in out
    assert main(["index", "status", "--json"]) == 0
    catalog = json.loads(capsys.readouterr().out)["catalog"]
    assert catalog == {"source": BUNDLED, "plugin_types": count, "note": None}


def test_index_status_names_the_live_schema_when_it_is_in_force(
    live_on: HostedSchema, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["index", "status"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("catalog:"))
    assert line.startswith(f"catalog:    Kestra's live schema ({live_on.url}, fetched ")
    bundled = len(bundled_schema(1).plugin_types())
    # The sample defines Log and Request (the bundled catalog has them too): the catalog fills in the others.
    assert line.endswith(
        f"the Kestra 1.x flow model, {bundled:,} plugin types ({bundled - 2:,} of them from the bundled catalog)"
    )


def test_index_status_says_why_the_live_schema_is_not_in_force(
    live_on: HostedSchema, capsys: pytest.CaptureFixture[str]
) -> None:
    live_on.body = None
    assert main(["index", "status"]) == 0
    out = capsys.readouterr().out
    assert f"catalog:    {BUNDLED}, " in out and "note:       Could not fetch Kestra's live schema" in out

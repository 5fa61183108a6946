"""The bundled catalog and its schemas, built once and read back from the cache; the schema pruned to a flow's
types gives the whole schema's verdict; what the run time no longer checks, the tests do."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from copilot.flows import FlowError, _bundled, bundled_schema, parse_flow
from copilot.flows._schema import (
    FlowSchema,
    _check_schema,
    _compiled,
    _passes_quickly,
    _reference_classes,
    _type_values_in,
)
from copilot.flows._types import YamlMap
from tests.conftest import real_flows
from tests.flows.mutations import mutations_of


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A process that has not read the bundled catalog yet (the module's state, as at start)."""
    monkeypatch.setattr(_bundled, "_loaded", None)
    monkeypatch.setattr(_bundled, "_cache_dir", None)
    yield


@pytest.mark.parametrize("version", [1, 2])
def test_the_bundled_schemas_pass_the_draft07_meta_schema(version: int) -> None:
    """Checked here rather than on every run (a second of a fresh `validate`): the schema comes from the
    package's own catalog, so a release that passes this test ships schemas that pass it."""
    _check_schema(bundled_schema(version).raw)
    assert _passes_quickly(bundled_schema(version).raw)  # and the quick check sees it so


DRAFT = "http://json-schema.org/draft-07/schema#"


@pytest.mark.parametrize(
    ("schema", "valid"),
    [
        ({"$schema": DRAFT, "definitions": {"a": {"type": "string", "pattern": "^[\\p{Ll}][\\p{L}0-9._-]*$"}}}, True),
        ({"$schema": DRAFT, "definitions": {"a": {"type": "object", "patternProperties": {"^x-\\p{L}": {}}}}}, True),
        ({"$schema": DRAFT, "definitions": {"a": {"type": "string", "pattern": "[unclosed"}}}, False),
        ({"$schema": DRAFT, "definitions": {"a": {"type": "object", "patternProperties": {"(": {}}}}}, False),
        ({"$schema": DRAFT, "definitions": {"a": {"type": 12}}}, False),
        ({"definitions": {"a": {"type": 12}}}, False),  # no $schema: the reference check alone
        ({"$schema": DRAFT, "definitions": {"a": {"default": {"pattern": "[not a schema"}}}}, True),  # data
    ],
)
def test_the_quick_meta_schema_check_agrees_with_the_reference_one(schema: dict, valid: bool) -> None:
    """A hosted schema of every plugin is ~10 MB: the compiled meta-schema check and a pass over its patterns
    (Java regexes) take milliseconds where python-jsonschema takes seconds; a doubt goes to the reference."""
    import jsonschema

    _, formats = _reference_classes()
    reference = jsonschema.Draft7Validator(jsonschema.Draft7Validator.META_SCHEMA, format_checker=formats)
    assert reference.is_valid(schema) is valid
    if _passes_quickly(schema):
        assert valid
    if valid:
        _check_schema(schema)
    else:
        with pytest.raises(jsonschema.SchemaError):
            _check_schema(schema)


def test_the_catalog_reads_the_same_with_libyaml_and_the_pure_python_loader() -> None:
    for name, text in _bundled.catalog_files():
        assert yaml.load(text, Loader=yaml.CSafeLoader) == yaml.safe_load(text), name


def test_the_first_run_writes_the_cache_and_the_next_reads_it_without_building(
    fresh: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _bundled.Bundled(None, _bundled.catalog_files())  # in memory: what the cache must hold
    _bundled.use_cache(tmp_path)
    first = _bundled.bundled()
    assert first.schema(1).raw == built.schema(1).raw
    (folder,) = tmp_path.iterdir()
    assert sorted(p.name for p in folder.iterdir()) == [
        "catalog.pickle",
        "flowable.pickle",
        "schema-1.pickle",
        "schema-2.pickle",
    ]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in folder.iterdir())  # the user's own

    monkeypatch.setattr(_bundled, "_loaded", None)  # the next process
    monkeypatch.setattr("copilot.flows._catalog.load_catalog", _must_not_build)
    later = _bundled.bundled()
    assert later.schema(2).raw == built.schema(2).raw and later.flowable == built.flowable
    assert later.schema(2).facts() == built.schema(2).facts()  # read back, not derived again
    assert set(later.catalog.types) == set(built.catalog.types)
    assert later.catalog.lookup("io.kestra.plugin.core.log.Log") == built.catalog.lookup(
        "io.kestra.plugin.core.log.Log"
    )


def test_a_damaged_cache_file_is_built_again(fresh: None, tmp_path: Path) -> None:
    _bundled.use_cache(tmp_path)
    expected = _bundled.bundled().schema(1).raw
    (folder,) = tmp_path.iterdir()
    (folder / "schema-1.pickle").write_bytes(b"\x80\x05cut sho")
    _bundled._loaded = None
    assert _bundled.bundled().schema(1).raw == expected
    assert (folder / "schema-1.pickle").stat().st_size > 1000  # written again


def test_another_catalog_is_another_cache_and_the_old_one_goes(
    fresh: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _bundled.use_cache(tmp_path)
    _bundled.bundled().schema(1)
    (before,) = tmp_path.iterdir()
    files = _bundled.catalog_files()
    changed = [(name, text + "\n# an edit\n") if i == 0 else (name, text) for i, (name, text) in enumerate(files)]
    monkeypatch.setattr(_bundled, "catalog_files", lambda: changed)
    monkeypatch.setattr(_bundled, "_loaded", None)
    _bundled.bundled().schema(1)
    (after,) = tmp_path.iterdir()  # built anew under its own fingerprint; the stale one removed
    assert after != before


def test_without_a_cache_nothing_is_written(fresh: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _bundled.bundled().schema(1).definitions
    assert list(tmp_path.iterdir()) == []


def _must_not_build(*args: object) -> None:
    raise AssertionError("the catalog was built again instead of read from the cache")


# --- the schema pruned to a flow's types -------------------------------------------------------------------
def _verdicts(schema: FlowSchema, data: object) -> tuple[bool, bool]:
    pruned = schema.pruned(frozenset(_type_values_in(data, set())))  # type: ignore[arg-type]
    assert pruned is not None
    whole, part = schema._whole_validator(), _compiled(pruned)
    assert whole is not None and part is not None
    return bool(whole.is_valid(data)), bool(part.is_valid(data))


def _data(text: str) -> YamlMap | None:
    try:
        return parse_flow(text).data
    except FlowError:  # not a flow the schema sees (broken YAML)
        return None


@pytest.mark.parametrize("version", [1, 2])
def test_the_pruned_schema_gives_the_whole_schemas_verdict_on_every_real_flow(version: int) -> None:
    schema = bundled_schema(version)
    checked = differ = invalid = 0
    for record in real_flows():
        data = _data(record["yaml"])
        if data is None:
            continue
        whole, part = _verdicts(schema, data)
        checked, differ, invalid = checked + 1, differ + (whole != part), invalid + (not whole)
    assert checked > 2000 and invalid > 10 and differ == 0  # some are invalid: both verdicts are exercised


def test_the_pruned_schema_gives_the_whole_schemas_verdict_on_mutated_flows() -> None:
    schema = bundled_schema(1)
    checked = differ = invalid = 0
    for number, record in enumerate(real_flows()):
        if number % 8:  # a sample: every eighth flow, each mutated several ways
            continue
        for mutation in mutations_of(record["yaml"], schema, seed=number):
            data = _data(mutation.text)
            if data is None:
                continue
            whole, part = _verdicts(schema, data)
            checked, differ, invalid = checked + 1, differ + (whole != part), invalid + (not whole)
    assert checked > 500 and invalid > 200 and differ == 0


def test_a_schema_that_refers_outside_its_definitions_is_not_pruned() -> None:
    schema = FlowSchema(
        {"definitions": {"a": {"type": "object"}}, "properties": {"x": {"$ref": "https://example.com/s.json"}}},
        source="test",
    )
    assert schema.pruned(frozenset()) is None

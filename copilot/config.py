"""Settings, in one place: defaults < config file (TOML) < environment variables.

The config file lives in the platform's config folder (`kestra-copilot config path` prints it), or
where `KESTRA_COPILOT_CONFIG` points. Secrets are never printed: `Settings.redacted()` masks them.

A server URL is checked when it is read (a malformed one is a ConfigError naming the setting). A Kestra URL
with credentials (`http://admin:PW@host:8080`) is kept without them: its user and password become
`kestra_username`/`kestra_password` unless those are set, so no message, link or status line shows them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .urls import check_url, display_url, split_userinfo

if TYPE_CHECKING:  # imported where used: the chat's first screen, `validate` and `search` need neither
    from .llm.prices import Price

__all__ = ["SECRET_FIELDS", "Settings", "config_path", "load_settings", "mask", "with_embeddings"]

APP_NAME = "kestra-copilot"
SECRET_FIELDS = frozenset({"gemini_api_key", "kestra_password", "kestra_api_token"})

# Environment variable → setting. The first variable set wins (GEMINI_API_KEY before GOOGLE_API_KEY).
_ENV: dict[str, tuple[str, ...]] = {
    "gemini_api_key": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "model": ("KESTRA_COPILOT_MODEL",),
    "model_url": ("KESTRA_COPILOT_MODEL_URL",),
    "kestra_url": ("KESTRA_URL",),
    "kestra_username": ("KESTRA_USERNAME",),
    "kestra_password": ("KESTRA_PASSWORD",),
    "kestra_api_token": ("KESTRA_API_TOKEN",),
    "kestra_tenant": ("KESTRA_TENANT",),
    "kestra_version": ("KESTRA_VERSION",),
    "kestra_ca_bundle": ("KESTRA_CA_BUNDLE",),
    "chroma_url": ("KESTRA_COPILOT_CHROMA_URL",),
    "embeddings": ("KESTRA_COPILOT_EMBEDDINGS",),
    "deploy_namespaces": ("KESTRA_COPILOT_DEPLOY_NAMESPACES",),
    "test_namespace_suffix": ("KESTRA_COPILOT_TEST_NAMESPACE_SUFFIX",),
    "test_run_timeout": ("KESTRA_COPILOT_TEST_RUN_TIMEOUT",),
    "sandbox_test_runs": ("KESTRA_COPILOT_SANDBOX_TEST_RUNS",),
    "mcp_writes": ("KESTRA_COPILOT_MCP_WRITES",),
    "live_schema": ("KESTRA_COPILOT_LIVE_SCHEMA",),
    "live_schema_url": ("KESTRA_COPILOT_LIVE_SCHEMA_URL",),
    "data_dir": ("KESTRA_COPILOT_DATA_DIR",),
    "cache_dir": ("KESTRA_COPILOT_CACHE_DIR",),
}


@dataclass(frozen=True)
class Settings:
    gemini_api_key: str | None = None
    # gemini-2.5-flash shuts down on 2026-12-01; 3.8-flash is the current GA Flash model.
    model: str = "gemini-3.8-flash"
    # An OpenAI-compatible server (Ollama: http://localhost:11434/v1) serving `model` instead of Gemini.
    model_url: str | None = None
    kestra_url: str | None = None
    kestra_username: str | None = None
    kestra_password: str | None = None
    kestra_api_token: str | None = None
    kestra_tenant: str = "main"
    # The Kestra major version flows are written and validated for (1 = 1.x, 2 = 2.x).
    kestra_version: int = 1
    # A PEM file of CA certificates to trust for the Kestra server, on top of the public ones (a private CA).
    kestra_ca_bundle: Path | None = None
    # Comma-separated namespaces `deploy` may write to (children included); None allows any.
    deploy_namespaces: str | None = None
    # `ask --test-run` deploys to the flow's namespace plus this suffix, away from the team's own flows.
    test_namespace_suffix: str = ".copilot_test"
    # Seconds a test-run's execution may take before it is killed (a Pause task, no free worker…).
    test_run_timeout: float = 600.0
    # The Kestra server is a sandbox kept for trials: model-written flows may be test-run there without
    # asking (`eval run --live`, `ask --test-run` with no terminal). Off: every test-run needs a yes.
    sandbox_test_runs: bool = False
    # `kestra-copilot mcp`: a coding agent may deploy and test-run flows (its deploy_flow and test_run_flow
    # tools). On, it counts as the user's yes to test-runs in the test namespace; deploys still go through the
    # allow-list and the server's verdict. Off (the default), those tools answer with how to turn it on.
    mcp_writes: bool = False
    # Flows are judged by Kestra's hosted flow schema (every plugin, current), fetched from this URL and cached
    # (revalidated after a day, the cached copy used offline); the bundled catalog when it cannot be had. An
    # air-gapped team points it at a mirror; `live_schema = false` never fetches it (the bundled catalog).
    live_schema: bool = True
    live_schema_url: str = "https://api.kestra.io/v1/plugins/schemas/flow"
    # A Chroma server for the retrieval index; None keeps it embedded in the data dir.
    chroma_url: str | None = None
    # The index's vectors: "minilm" (local, offline), or "gemini" / "gemini:MODEL" (Gemini's embedding
    # model, gemini-embedding-001 by default: needs the API key, and an `index build` to fill its collection).
    embeddings: str = "minilm"
    # `[prices."MODEL"] input/output/cached` (USD per 1M tokens): overrides or adds to llm/prices.py.
    prices: Mapping[str, Price] = field(default_factory=dict)
    # `[keys] help = "ctrl+t"`: the TUI's key for an action (ids: `kestra-copilot chat --keys`).
    keys: Mapping[str, str] = field(default_factory=dict)
    data_dir: Path = field(default_factory=lambda: _user_dir("data"))
    cache_dir: Path = field(default_factory=lambda: _user_dir("cache"))

    @property
    def sessions_path(self) -> Path:
        """The session store (`engine/sessions.py`): every turn and revision."""
        return self.data_dir / "sessions.db"

    @property
    def index_dir(self) -> Path:
        """The retrieval index (chunk list, manifest and, unless `chroma_url` is set, the Chroma store)."""
        return self.data_dir / "index"

    config_file: Path | None = None

    def redacted(self) -> dict[str, object]:
        """All settings as plain values, secrets masked — safe to print or log."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS:
                value = mask(value)
            elif f.name in _URLS and value:
                value = display_url(value)
            elif isinstance(value, Path):
                value = str(value)
            elif f.name == "prices":
                value = {model: [p.input, p.output, p.cached] for model, p in value.items()}
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out


def mask(value: str | None) -> str | None:
    """`AIzaSyD…` → `AIza…(39 chars)`: enough to recognise which key it is, never enough to use it."""
    if not value:
        return None
    return f"{value[:4]}…({len(value)} chars)" if len(value) >= 12 else "****"


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    explicit = environ.get("KESTRA_COPILOT_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    return _user_dir("config") / "config.toml"


def _user_dir(kind: str) -> Path:
    """The platform's folder for the app's `kind` of files (data, cache, config)."""
    import platformdirs

    return Path(getattr(platformdirs, f"user_{kind}_dir")(APP_NAME))


def load_settings(environ: Mapping[str, str] | None = None, path: Path | None = None) -> Settings:
    """Read the config file (if any) then the environment."""
    environ = os.environ if environ is None else environ
    path = path or config_path(environ)
    values: dict[str, object] = {}
    origins: dict[str, str] = {}  # setting → the environment variable it came from
    if path.is_file():
        import tomllib  # loaded when there is a config file

        try:
            values.update(_flatten(tomllib.loads(path.read_text(encoding="utf-8"))))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"The config file {path} is not valid TOML: {exc}", hint="Fix or delete it.") from exc
    for name, variables in _ENV.items():
        for variable in variables:
            if environ.get(variable):
                values[name] = environ[variable]
                origins[name] = variable
                break
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"Unknown {'setting' if len(unknown) == 1 else 'settings'} in {path}: {', '.join(unknown)}.",
            hint=f"Known settings: {', '.join(sorted(known - {'config_file'}))}.",
        )
    return replace(Settings(config_file=path if path.is_file() else None), **_coerce(values, path, origins))


_TABLES = frozenset({"prices", "keys"})  # config tables kept whole, not flattened into settings


def _prices(table: object, path: Path) -> dict[str, Price]:
    from .llm.prices import Price

    example = '[prices."gemini-3.8-flash"] input = 0.75, output = 3.75, cached = 0.075'
    if not isinstance(table, Mapping):
        raise ConfigError(f"[prices] in {path} must be a table of models.", hint=example)
    prices = {}
    for model, spec in table.items():
        try:
            prices[model] = Price(float(spec["input"]), float(spec["output"]), float(spec.get("cached", 0.0)))
        except (TypeError, KeyError, ValueError, AttributeError):
            raise ConfigError(f"[prices.{model!r}] in {path} needs numbers input and output.", hint=example) from None
    return prices


def _flatten(data: Mapping[str, object]) -> dict[str, object]:
    """`[kestra] url = …` → `kestra_url`; top-level keys stay as they are."""
    out: dict[str, object] = {}
    for key, value in data.items():
        if key in _TABLES:
            out[key] = value
        elif isinstance(value, Mapping):
            for sub, sub_value in value.items():
                out[f"{key}_{sub}".replace("-", "_")] = sub_value
        else:
            out[key.replace("-", "_")] = value
    return out


def _seconds(value: object, name: str) -> float:
    try:
        seconds = float(value) if isinstance(value, int | float | str) else 0.0
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):  # nan, inf, 0 and below: not a timeout
        raise ConfigError(
            f"{name} must be a number of seconds, not {value!r}.",
            hint="e.g. KESTRA_COPILOT_TEST_RUN_TIMEOUT=600 (10 minutes, the default).",
        )
    return seconds


def _boolean(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}.")


_SEGMENT = r"[a-z0-9][a-z0-9_-]*"  # one part of a namespace (Kestra's pattern, without dots)


def _suffix(value: object) -> str:
    """The test namespace suffix: `.` and namespace segments, so a test-run never lands in the flow's own."""
    suffix = str(value).strip()
    if not isinstance(value, str) or not re.fullmatch(rf"(\.{_SEGMENT})+", suffix):
        raise ConfigError(
            f"test_namespace_suffix must be a dot and a namespace segment (lower-case letters, digits, _ and -), "
            f"not {value!r}: test-runs deploy to the flow's namespace plus it, away from the team's own flows.",
            hint="e.g. KESTRA_COPILOT_TEST_NAMESPACE_SUFFIX=.copilot_test (the default).",
        )
    return suffix


def _namespaces(value: object) -> str:
    """`deploy_namespaces`: a comma-separated string or a TOML list of namespaces; an empty one is refused
    rather than read as "any namespace" (leave the setting out for that)."""
    items = value if isinstance(value, list) else str(value).split(",")
    names = [str(item).strip() for item in items]
    if not names or not all(re.fullmatch(rf"{_SEGMENT}(\.{_SEGMENT})*", name) for name in names):
        raise ConfigError(
            f"deploy_namespaces must list namespaces, not {value!r}.",
            hint='e.g. deploy_namespaces = ["sandbox", "dev.team"] (each allows its children); leave it out to '
            "allow any namespace.",
        )
    return ",".join(names)


def with_embeddings(settings: Settings, embeddings: str) -> Settings:
    """`settings` with another `embeddings` value, checked as the config file's would be (`--embeddings`)."""
    return replace(settings, **_coerce({"embeddings": embeddings}, settings.config_file or Path("--embeddings")))


# URL settings → what a good value looks like.
_URLS = {
    "kestra_url": "http://localhost:8080 or https://kestra.example.com:8443",
    "model_url": "http://localhost:11434/v1",
    "chroma_url": "http://localhost:8000",
    "live_schema_url": "https://api.kestra.io/v1/plugins/schemas/flow",
}


def _coerce(values: Mapping[str, object], path: Path, origins: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings' values checked and converted to their fields' types (Any: one type per field, for
    `replace(settings, **values)`)."""
    origins = origins or {}
    out: dict[str, Any] = dict(values)
    if "embeddings" in out:
        out["embeddings"] = str(out["embeddings"]).strip()
        kind, _, model = out["embeddings"].partition(":")
        if kind.lower() not in ("minilm", "gemini") or (model and kind.lower() != "gemini"):
            raise ConfigError(
                f"embeddings must be minilm, gemini or gemini:MODEL, not {values['embeddings']!r}.",
                hint="minilm runs offline; gemini uses gemini-embedding-001 with your API key.",
            )
        out["embeddings"] = kind.lower() + (f":{model.strip()}" if model.strip() else "")
    if "prices" in out:
        out["prices"] = _prices(out["prices"], path)
    if "keys" in out:
        keys = out["keys"]
        if not isinstance(keys, Mapping) or not all(isinstance(v, str) and v for v in keys.values()):
            raise ConfigError(f'[keys] in {path} maps action ids to keys, e.g. help = "ctrl+t".')
        out["keys"] = dict(keys)
    if "kestra_version" in out:
        raw = str(out["kestra_version"]).strip().lower().removesuffix(".x")
        major = raw.split(".")[0]
        if major not in ("1", "2"):
            raise ConfigError(
                f"kestra_version must be 1 or 2, not {out['kestra_version']!r}.",
                hint="Set KESTRA_VERSION=1 or 2, or `[kestra] version = 2` in the config file.",
            )
        out["kestra_version"] = int(major)
    for name in ("sandbox_test_runs", "mcp_writes", "live_schema"):
        if name in out:
            out[name] = _boolean(out[name], name)
    if "deploy_namespaces" in out:
        out["deploy_namespaces"] = _namespaces(out["deploy_namespaces"])
    if "test_namespace_suffix" in out:
        out["test_namespace_suffix"] = _suffix(out["test_namespace_suffix"])
    if "test_run_timeout" in out:
        out["test_run_timeout"] = _seconds(out["test_run_timeout"], "test_run_timeout")
    for name in ("data_dir", "cache_dir"):
        if name in out:
            out[name] = Path(str(out[name])).expanduser()
    for name, example in _URLS.items():
        if out.get(name):
            out[name] = check_url(str(out[name]), origins.get(name) or f"{name} in {path}", example)
    if out.get("kestra_url"):
        _kestra_credentials(out)
    if out.get("chroma_url") and split_userinfo(out["chroma_url"])[1] is not None:
        raise ConfigError(
            f"{origins.get('chroma_url') or 'chroma_url'} carries credentials, which are never sent to Chroma.",
            hint="Remove the user:password@ part; use a Chroma server on a trusted network (or loopback).",
        )
    if out.get("kestra_ca_bundle"):
        bundle = Path(str(out["kestra_ca_bundle"])).expanduser()
        if not bundle.is_file():
            setting = origins.get("kestra_ca_bundle") or f"kestra_ca_bundle in {path}"
            raise ConfigError(
                f"{setting} points at {bundle}, which is not a file.",
                hint="Give the path of a PEM file with the CA certificate(s) that sign your Kestra server's.",
            )
        out["kestra_ca_bundle"] = bundle
    return out


def _kestra_credentials(out: dict[str, Any]) -> None:
    """Keep the Kestra URL without its userinfo; its user and password are the Basic credentials when
    neither kestra_username nor kestra_password is set (those win otherwise)."""
    out["kestra_url"], user, password = split_userinfo(out["kestra_url"])
    if user is not None and not out.get("kestra_username") and not out.get("kestra_password"):
        out["kestra_username"], out["kestra_password"] = user, password

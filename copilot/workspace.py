"""The application layer: the settings mapped onto the parts, in one place, and the actions the front ends
take. `llm/`, `kestra/` and `retrieval/` take plain constructor arguments and know nothing of the settings;
the front ends (the CLI commands, the chat, the eval runner) ask a Workspace for what they use and import
neither `copilot.kestra` nor `copilot.llm` themselves (the types they render are in `copilot.events`).

    workspace = Workspace(load_settings())
    conversation = workspace.open(workspace.engine(recipe="default"))   # the model, grounding, session store
    result = await conversation.turn("load the taxi CSV into Postgres", on_event=print)
    outcome = await conversation.deploy(confirm=ask_the_user)          # the one review, then a yes

What works on a flow's text alone (a file's deploy, `run NAMESPACE/ID`) is a Workspace action; what works
on the conversation's revisions is a Conversation's (conversation.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Settings
from .errors import ConfigError, CopilotError
from .urls import check_url, display_url, same_origin

if TYPE_CHECKING:  # the heavy parts are imported when asked for: a light command loads none of them
    import httpx

    from .conversation import Conversation
    from .engine.consent import Approvals, Consent
    from .engine.recipes import Recipe
    from .engine.sessions import SessionStore
    from .engine.testrun import TestRunResult
    from .engine.turn import Engine, Retrieve
    from .kestra.client import KestraClient, ServerInfo
    from .kestra.models import DeployedFlow, Execution
    from .kestra.review import DeployReview
    from .kestra.watch import Event as WatchEvent
    from .kestra.watch import Finished
    from .llm.base import ChatModel, ModelError
    from .lookup import SearchHit
    from .retrieval.gemini_embeddings import GeminiEmbedder
    from .retrieval.hybrid import Hit
    from .retrieval.index import Index
    from .schema_store import LoadedSchema

INPUTS_FILE = "test-run-inputs.json"  # in the data dir: what each flow's test-run form last ran with

__all__ = [
    "NO_KESTRA_HINT",
    "NO_MODEL_HINT",
    "Confirm",
    "DeployOutcome",
    "EngineSetup",
    "Grounding",
    "Workspace",
]

NO_MODEL_HINT = (
    "Set GEMINI_API_KEY (a key from https://aistudio.google.com/apikey), or use a local "
    "OpenAI-compatible server: KESTRA_COPILOT_MODEL_URL=http://localhost:11434/v1 "
    "KESTRA_COPILOT_MODEL=qwen2.5-coder:7b."
)
SERVER_SCHEMA_WAIT = 30.0  # seconds for a server's multi-MB flow schema (once per server version)
_NEXT_SOURCE = "flows are judged by Kestra's live schema, else the bundled catalog."
NO_KESTRA_HINT = "Set KESTRA_URL (e.g. http://localhost:8080) or `[kestra] url` in the config file."


Confirm = Callable[["DeployReview", str], Awaitable[bool]]  # (the review, the server's URL) -> deploy?


@dataclass
class Grounding:
    """Retrieval over the user's index: `retrieve` is None without an index (a note says why, if it is not
    simply that there is none yet)."""

    retrieve: Retrieve | None
    chunks: int = 0
    fingerprint: dict[str, object] = field(default_factory=dict)  # the index manifest: sources, model, chunker
    notes: list[str] = field(default_factory=list)  # e.g. the index was embedded with another model


@dataclass
class EngineSetup:
    engine: Engine
    notes: list[str] = field(default_factory=list)  # what is missing and how to fix it
    index_chunks: int = 0


@dataclass(frozen=True)
class DeployOutcome:
    """What a deploy came to: refused by the server (`review.problems`), already up to date, declined by the
    user, or `deployed` (with the link to it in Kestra's UI)."""

    review: DeployReview
    server: str
    deployed: DeployedFlow | None = None
    link: str = ""

    @property
    def refused(self) -> bool:
        return bool(self.review.problems)

    @property
    def where(self) -> str:
        from .kestra.models import flow_ref

        return flow_ref(self.review.namespace, self.review.flow_id)


class Workspace:
    """The settings mapped onto the parts, the Kestra actions on a flow's text, and the conversation the
    chat or `ask` works in (`open`)."""

    def __init__(self, settings: Settings) -> None:
        from .flows import use_cache

        self.settings = settings
        use_cache(settings.cache_dir / "catalog")  # the bundled catalog and schemas, built once
        self._conversation: Conversation | None = None
        self._client: KestraClient | None = None  # while `connected`: the one client test-runs share
        self._schemas: dict[tuple[int, str | None], LoadedSchema] = {}  # flow_schema's, once per process

    @property
    def conversation(self) -> Conversation:
        """The conversation `open` started (a front end opens one before it acts on revisions)."""
        if self._conversation is None:
            raise CopilotError("No conversation is open yet.")
        return self._conversation

    # --- the model ------------------------------------------------------------------------------------
    def model(self, name: str | None = None) -> ChatModel:
        """The configured chat model (`name` overrides the settings' one): a local OpenAI-compatible
        server when `model_url` is set, Gemini otherwise (an API key, or Vertex AI through the SDK's own
        variables). MissingApiKey when there is neither."""
        from .llm.base import MissingApiKey
        from .llm.gemini import GeminiModel, vertex_ai
        from .llm.openai_compat import OpenAICompatModel

        settings = self.settings
        chosen = name or settings.model
        if settings.model_url:
            return OpenAICompatModel(base_url=settings.model_url, model=chosen)
        if not settings.gemini_api_key and not vertex_ai():
            raise MissingApiKey("No model is configured: there is no Gemini API key.", hint=NO_MODEL_HINT)
        return GeminiModel(api_key=settings.gemini_api_key, model=chosen)

    def known_models(self) -> list[str]:
        """The models with a known price, and the configured one: what a model picker offers."""
        from .llm.prices import PRICES

        settings = self.settings
        return sorted({*PRICES, *settings.prices, *([settings.model] if settings.model else [])})

    def embedder(self) -> GeminiEmbedder | None:
        """The index's embedder: None for the default local MiniLM, Gemini's API for `gemini[:MODEL]`."""
        from .retrieval.gemini_embeddings import GEMINI_EMBEDDING_MODEL, GeminiEmbedder

        kind, _, model = self.settings.embeddings.partition(":")
        if kind != "gemini":
            return None
        return GeminiEmbedder(api_key=self.settings.gemini_api_key, model=model or GEMINI_EMBEDDING_MODEL)

    # --- Kestra ---------------------------------------------------------------------------------------
    def owns(self, url: str) -> bool:
        """Whether `url` is on the configured server's origin: the only place its credentials are sent."""
        return bool(self.settings.kestra_url) and same_origin(url, self.settings.kestra_url or "")

    def kestra_auth(self, url: str) -> httpx.Auth | None:
        """The configured Kestra credentials for a request to `url`: none unless it is the server's origin."""
        from .kestra.client import kestra_auth

        settings = self.settings
        if not self.owns(url):
            return None
        return kestra_auth(settings.kestra_username, settings.kestra_password, settings.kestra_api_token)

    def kestra(self, url: str | None = None) -> KestraClient:
        """A client for the configured server, or for `url` (`validate --server URL`). The configured
        credentials go only to the configured server's origin (scheme, host, port): another URL gets none
        but its own userinfo, and the client's `credentials_note` says so."""
        from .kestra.client import URL_EXAMPLE, KestraClient

        settings = self.settings
        target = check_url(url, "The Kestra URL", URL_EXAMPLE) if url else settings.kestra_url
        if not target:
            raise ConfigError("No Kestra server is configured.", hint=NO_KESTRA_HINT)
        own = self.owns(target)
        client = KestraClient(
            target,
            tenant=settings.kestra_tenant,
            username=settings.kestra_username if own else None,
            password=settings.kestra_password if own else None,
            api_token=settings.kestra_api_token if own else None,
            ca_bundle=settings.kestra_ca_bundle,
        )
        if not own and (settings.kestra_username or settings.kestra_password or settings.kestra_api_token):
            configured = settings.kestra_url
            belong = f"to {display_url(configured)}" if configured else "to the server KESTRA_URL names"
            client.credentials_note = (
                f"The configured Kestra credentials were not sent to {client.url}: they go only {belong}."
            )
        return client

    @asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        """One Kestra client for the test-runs made inside (one connection pool, one version check): what a
        batch of them shares, such as an eval run's. Outside, each test-run opens its own."""
        async with self.kestra() as client:
            self._client = client
            try:
                yield
            finally:
                self._client = None

    async def server_info(self) -> ServerInfo:
        """The configured server's version (a cheap check that it answers and takes the credentials)."""
        async with self.kestra() as client:
            return await client.server_info()

    async def deployed(self, flow_yaml: str) -> DeployedFlow | None:
        """What the configured server has under the flow's namespace and id (None: no such flow)."""
        from .kestra.review import flow_key

        async with self.kestra() as client:
            return await client.get_flow(*flow_key(flow_yaml))

    async def deploy(
        self, flow_yaml: str, *, label: str, confirm: Confirm, namespace: str | None = None
    ) -> DeployOutcome:
        """The one deploy review — the allow-list, the server's verdict, the diff against what it has — then
        `confirm(review, server)`, then the deploy of exactly what was reviewed. Nothing is deployed when the
        server refuses the flow, when it is up to date, or without a yes. `namespace` deploys into another
        namespace than the flow's own (set on the parsed document, the rest of the text kept)."""
        from .kestra.review import deploy_reviewed, review_deploy, ui_link, with_namespace

        if namespace:
            flow_yaml = with_namespace(flow_yaml, namespace)
        allow = self.settings.deploy_namespaces
        async with self.kestra() as client:
            review = await review_deploy(client, flow_yaml, allow=allow, label=label)
            if review.problems or review.up_to_date or not await confirm(review, client.url):
                return DeployOutcome(review, client.url)
            deployed = await deploy_reviewed(client, review, flow_yaml)
            return DeployOutcome(review, client.url, deployed, ui_link(client, review.namespace, review.flow_id))

    async def execute(
        self,
        namespace: str,
        flow_id: str,
        *,
        inputs: Mapping[str, str] | None = None,
        files: Mapping[str, Path] | None = None,
        labels: Mapping[str, str] | None = None,
        timeout: float,
        on_started: Callable[[Execution], None] | None = None,
        on_event: Callable[[WatchEvent], None] | None = None,
    ) -> Finished | None:
        """Execute a deployed flow (within the allow-list) and follow it to its end: its final state and the
        failing task's log lines, or None when it is still running after `timeout` (it is left running: it is
        the user's execution, not a test copy)."""
        from .kestra.review import check_flow_id, check_namespace, ensure_allowed
        from .kestra.watch import StillRunning, follow_to_end

        check_flow_id(flow_id)
        ensure_allowed(check_namespace(namespace), self.settings.deploy_namespaces, nothing="run")
        async with self.kestra() as client:
            execution = await client.execute(
                namespace, flow_id, inputs=dict(inputs or {}), files=dict(files or {}), labels=dict(labels or {})
            )
            if on_started is not None:
                on_started(execution)
            try:
                return await follow_to_end(client, execution, on_event or (lambda event: None), timeout=timeout)
            except StillRunning:
                return None

    async def test_run(
        self,
        engine: Engine,
        *,
        consent: Consent,
        approvals: Approvals | None = None,
        inputs: Mapping[str, str] | None = None,
        keep: bool = False,
        max_repairs: int = 2,
        on_event: Callable[[object], None] | None = None,
    ) -> TestRunResult:
        """Test-run the engine's current revision on the configured server, with the settings' test namespace,
        allow-list and timeout (engine/testrun.py: one execute → follow → verdict, repairs from the logs)."""
        from .engine.testrun import test_run

        settings = self.settings
        async with AsyncExitStack() as stack:
            client = self._client
            if client is None:
                client = await stack.enter_async_context(self.kestra())
            return await test_run(
                engine,
                client,
                consent=consent,
                approvals=approvals,
                inputs=dict(inputs or {}),
                namespace_suffix=settings.test_namespace_suffix,
                allow=settings.deploy_namespaces,
                keep=keep,
                max_repairs=max_repairs,
                follow_timeout=settings.test_run_timeout,
                on_event=on_event,
            )

    async def test_run_flow(
        self,
        flow_yaml: str,
        *,
        consent: Consent,
        inputs: Mapping[str, str] | None = None,
        on_event: Callable[[object], None] | None = None,
    ) -> TestRunResult:
        """Test-run a flow given as text (an agent's, over MCP): the same test copy, allow-list, consent and
        clean-up as `test_run`, with no model, so no repair (the caller repairs from the verdict). A flow that
        does not validate is refused before anything reaches the server."""
        from .engine.recipes import load_recipe
        from .engine.turn import Engine

        version = self.settings.kestra_version
        engine = Engine(
            None, recipe=load_recipe("default"), kestra_version=version, schema=self.flow_schema(version).schema
        )
        revision = engine.start_from(flow_yaml)
        if not revision.valid:
            found = "\n".join(d.format() for d in revision.diagnostics if d.blocking)
            raise CopilotError(
                f"The flow does not validate; it was not deployed or run:\n{found}",
                hint="Fix what it reports, then test-run it again.",
            )
        return await self.test_run(engine, consent=consent, inputs=inputs, max_repairs=0, on_event=on_event)

    async def check_test_run(self, engine: Engine) -> None:
        """What a test-run of the engine's current revision checks before deploying (the allow-list, the KV
        keys and plugins it needs), without deploying: raises what it would refuse with."""
        from .engine.testrun import check_before_test_run

        settings = self.settings
        async with AsyncExitStack() as stack:
            client = self._client
            if client is None:
                client = await stack.enter_async_context(self.kestra())
            await check_before_test_run(
                engine, client, namespace_suffix=settings.test_namespace_suffix, allow=settings.deploy_namespaces
            )

    # --- the flow schema ------------------------------------------------------------------------------
    def assistant_schema(self, kestra_version: int) -> LoadedSchema:
        """The schema the assistant judges and grounds flows by: the configured server's when it gives one,
        else `flow_schema`'s choice (Kestra's live schema, else the bundled catalog); the note says why a
        source was passed over. `validate` asks a server only under `--server` (it stays offline)."""
        from .schema_store import LoadedSchema

        server, why_not = self.server_schema()
        loaded = self.flow_schema(kestra_version, server=server)
        note = " ".join(note for note in (why_not, loaded.note) if note)
        return LoadedSchema(loaded.schema, note or None)

    def server_schema(self) -> tuple[tuple[str, str] | None, str | None]:
        """The configured Kestra server's flow schema for `flow_schema` (its text and label: exactly its plugins,
        at their versions; cached per server version, so a start asks the server its version only), or None
        and why not (None quietly when no server is configured, or it serves no schema: an older Kestra)."""
        if not self.settings.kestra_url:
            return None, None
        import asyncio

        from .kestra import KestraError
        from .schema_store import server_schema_text

        async def ask() -> tuple[str, str]:
            async with self.kestra() as kestra:
                info = await kestra.server_info()
                text = await asyncio.wait_for(server_schema_text(kestra, self.settings.cache_dir), SERVER_SCHEMA_WAIT)
                return text, f"Kestra {info.version} at {kestra.url}"

        try:
            return asyncio.run(ask()), None
        except KestraError as exc:
            if exc.status == 404:
                return None, None
            shown = display_url(self.settings.kestra_url)
            return None, f"The flow schema of the Kestra server at {shown} could not be read ({exc}): {_NEXT_SOURCE}"
        except TimeoutError:
            shown = display_url(self.settings.kestra_url)
            return None, f"The Kestra server at {shown} took too long to send its flow schema: {_NEXT_SOURCE}"

    def flow_schema(self, kestra_version: int, *, server: tuple[str, str] | None = None) -> LoadedSchema:
        """The schema flows are judged by, the first there is of: the connected server's (`server`: its schema
        text and label, as `server_check` got them), Kestra's hosted live schema (unless `live_schema` is off:
        cached, revalidated after a day, the cached copy offline), the bundled catalog. Its `note` says why a
        source was passed over (a server schema that is not one, offline with no copy…); its `schema.source`
        names the one that judges."""
        from .flows import bundled_schema
        from .schema_store import LoadedSchema, live_schema, server_schema

        key = (kestra_version, server[1] if server else None)
        if key in self._schemas:
            return self._schemas[key]
        settings, notes = self.settings, list[str]()
        loaded: LoadedSchema | None = None
        if server is not None:
            try:
                loaded = server_schema(
                    server[0], server[1], kestra_version=kestra_version, cache_dir=settings.cache_dir
                )
            except CopilotError as exc:
                notes.append(str(exc))  # it names the server's schema
        if loaded is None and settings.live_schema:
            try:
                loaded = live_schema(
                    settings.live_schema_url, kestra_version=kestra_version, cache_dir=settings.cache_dir
                )
            except CopilotError as exc:
                notes.append(str(exc))
            else:
                notes += [loaded.note] if loaded.note else []
        if loaded is None:
            loaded = LoadedSchema(bundled_schema(kestra_version))
        self._schemas[key] = LoadedSchema(loaded.schema, " ".join(notes) or None)
        return self._schemas[key]

    # --- grounding and the engine ---------------------------------------------------------------------
    def grounding(self) -> Grounding:
        """Hybrid search over the user's index, or nothing when there is no index yet, or a damaged one (a
        note says what is wrong and how to rebuild it: the turn goes on without sources)."""
        from .retrieval.hybrid import search
        from .retrieval.index import Index

        settings = self.settings
        index = Index(
            settings.index_dir, cache_dir=settings.cache_dir, chroma_url=settings.chroma_url, embedder=self.embedder()
        )
        try:
            count = len(index.chunks())
            if not count:
                return Grounding(None)
            notes = [mismatch] if (mismatch := index.embeddings_mismatch()) else []
            manifest = index.manifest()
        except CopilotError as exc:
            return Grounding(None, notes=[f"{exc} Answers come without sources. {exc.hint or ''}".strip()])

        def retrieve(text: str, recipe: Recipe) -> Sequence[Hit]:
            return search(index, text, k=recipe.k, kinds=recipe.kinds)

        return Grounding(retrieve, count, manifest, notes)

    def index(self) -> Index:
        """The user's retrieval index (where `index build` puts it), not opened yet."""
        from .retrieval.index import Index

        settings = self.settings
        return Index(
            settings.index_dir, cache_dir=settings.cache_dir, chroma_url=settings.chroma_url, embedder=self.embedder()
        )

    def search(
        self, query: str, *, k: int = 8, kinds: Sequence[str] | None = None, mode: str = "fusion"
    ) -> tuple[list[SearchHit], list[str]]:
        """The index's `k` best chunks for `query` (of `kinds`, default all), credentials redacted, and notes
        (an index embedded with another model; dense search down, so BM25 alone). An empty or missing index
        is an error whose hint is `kestra-copilot index build`."""
        from .flows import redact_secrets
        from .lookup import SearchHit
        from .retrieval.hybrid import DenseUnavailable, search

        index = self.index()
        index.require_built()
        notes = [mismatch] if (mismatch := index.embeddings_mismatch()) else []
        try:
            hits = search(index, query, k=k, kinds=kinds, mode=mode)
        except DenseUnavailable as exc:
            hits = exc.hits
            notes.append(exc.explained)
        return [
            SearchHit(
                rank=rank,
                kind=hit.chunk.kind,
                title=hit.chunk.title,
                source=hit.chunk.source,
                location=hit.chunk.location,
                score=round(hit.score, 6),
                text=redact_secrets(hit.chunk.text)[0],
                plugin_types=list(hit.chunk.plugin_types),
            )
            for rank, hit in enumerate(hits, 1)
        ], notes

    def plugin_examples(self, type_name: str, *, k: int = 2) -> list[SearchHit] | None:
        """Up to `k` chunks of the index that show `type_name` in use (its plugin doc, flows, blueprints), by
        BM25 alone (a type's name is an exact token: no embedding model is loaded); None without an index."""
        try:
            hits, _ = self.search(type_name, k=max(k * 5, 10), kinds=("plugin-doc", "flow", "blueprint"), mode="bm25")
        except CopilotError:  # no index, an empty or a damaged one
            return None
        return [hit for hit in hits if type_name in hit.plugin_types][:k]

    def plugin_doc_pages(self, type_name: str) -> list[str] | None:
        """The text of the index's plugin-doc chunks of `type_name` (its reference page: what each property
        means), by BM25 alone; None without an index."""
        try:
            hits, _ = self.search(type_name, k=40, kinds=("plugin-doc",), mode="bm25")
        except CopilotError:  # no index, an empty or a damaged one
            return None
        return [hit.text for hit in hits if type_name in hit.plugin_types]

    def engine(
        self,
        *,
        recipe: str = "default",
        model: str | None = None,
        kestra_version: int | None = None,
        chat: ChatModel | None = None,
    ) -> EngineSetup:
        """The engine for `recipe`, with the model named `model` (or the settings' one), or `chat` when the
        front end has made it already. What is missing (no API key, no index) comes back as notes, never as a
        crash, so a front end can open and say how to fix it. Heavy (google-genai, Chroma): a chat builds it
        off its UI thread."""
        from .engine.recipes import load_recipe
        from .engine.turn import Engine
        from .llm.base import ModelError

        notes: list[str] = []
        no_model: ModelError | None = None
        chat_model: ChatModel | None
        try:
            chat_model = chat or self.model(model)
        except ModelError as exc:
            chat_model, no_model = None, exc
            notes.append(exc.explained)
        chosen = load_recipe(recipe)
        grounding = self.grounding() if chosen.k else Grounding(None)
        notes += grounding.notes
        if chosen.k and not grounding.chunks and not grounding.notes:  # none yet (a damaged one has its own note)
            notes.append(
                "No retrieval index yet: answers come without sources. Build it: `kestra-copilot index build`."
            )
        version = kestra_version or self.settings.kestra_version
        schema = self.assistant_schema(version)  # the server's, else Kestra's live one, else bundled
        notes += [schema.note] if schema.note else []
        engine = Engine(
            chat_model,
            recipe=chosen,
            retrieve=grounding.retrieve,
            kestra_version=version,
            schema=schema.schema,
            no_model=no_model,
        )
        return EngineSetup(engine, notes, grounding.chunks)

    # --- a test-run's inputs, remembered per flow ----------------------------------------------------
    def last_inputs(self, namespace: str, flow_id: str) -> dict[str, str]:
        """What the test-run form of flow namespace/id was last run with (input → text), across sessions and
        restarts; {} when never, or the file cannot be read."""
        import json

        try:
            kept = json.loads((self.settings.data_dir / INPUTS_FILE).read_text(encoding="utf-8"))
            values = kept.get(f"{namespace}/{flow_id}", {}) if isinstance(kept, dict) else {}
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}

    def remember_inputs(self, namespace: str, flow_id: str, values: Mapping[str, str], secret: set[str]) -> None:
        """Keep what the form ran with, for the next test-run of this flow: not the `secret` inputs (SECRET
        type), nor a value that looks like a credential. Failing to write is not an error: it is a convenience."""
        import json

        from .flows import looks_like_secret_value
        from .private_files import private_dir, write_private

        kept_values = {k: v for k, v in values.items() if k not in secret and not looks_like_secret_value(v)}
        path = self.settings.data_dir / INPUTS_FILE
        try:
            kept = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        except (OSError, ValueError):
            kept = {}
        if not isinstance(kept, dict):
            kept = {}
        kept[f"{namespace}/{flow_id}"] = kept_values
        try:
            private_dir(path.parent)
            write_private(path, json.dumps(kept, indent=1, sort_keys=True))
        except (OSError, CopilotError):
            pass

    # --- the session store and the conversation -------------------------------------------------------
    def sessions(self) -> SessionStore:
        """The session store (every turn and revision), opened (and migrated, or moved aside if damaged)."""
        from .engine.sessions import SessionStore

        return SessionStore.open(self.settings.sessions_path)

    def open(self, setup: EngineSetup, *, store: SessionStore | None = None, record: bool = True) -> Conversation:
        """The conversation front ends act on, over `setup`'s engine, recorded in `store`, or in the session
        store opened here unless `record` is False. A store that cannot be opened here (the data dir is a
        file, the store is locked…) is a note: the conversation goes on unrecorded. Call it on the thread
        that uses the conversation (sqlite connections stay on theirs)."""
        import sqlite3  # here: `validate` asks a Workspace for its schema and needs no database

        from .conversation import Conversation

        notes = list(setup.notes)
        if store is None and record:
            try:
                store = self.sessions()
            except CopilotError as exc:
                notes.append(f"Sessions are not recorded: {exc.explained}")
            except (sqlite3.Error, OSError) as exc:
                notes.append(f"Sessions are not recorded: {exc}.")
            else:
                notes += store.notes  # e.g. a damaged store moved aside
        if self._conversation is not None:
            self._conversation.close()
        self._conversation = Conversation(self, setup.engine, store, index_chunks=setup.index_chunks, notes=notes)
        return self._conversation

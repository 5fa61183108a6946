"""The retrieval commands: `index build|status`, `search`, `eval retrieval` (the other evals are in cli_eval)."""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .cli_args import Commands, nonblank, positive_int
from .exitcodes import EXIT_OK
from .terminal import printable
from .wording import counted

if TYPE_CHECKING:
    from .catalog_in_force import CatalogInForce
    from .config import Settings
    from .retrieval.hybrid import Hit
    from .retrieval.index import BuildReport, Index
    from .retrieval.loaders import LoadResult
    from .retrieval.sources import Source

__all__ = ["add_eval_parsers", "add_parsers", "build_index"]


def add_parsers(commands: Commands) -> None:
    from .retrieval.chunks import KINDS, SEARCH_MODES

    index = commands.add_parser("index", help="build or inspect the retrieval index (docs, plugin docs, flows)")
    actions = index.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build",
        help="index the sources (default: the project corpus, its manifest, the Kestra server if configured)",
        description="Make the index hold exactly the given sources. Unchanged chunks are not embedded again; "
        "chunks of sources no longer given are removed. SOURCE: a path, an https URL to a .tar.gz "
        "(URL#folder keeps one folder), or `kestra`; `name=SOURCE` names it.",
    )
    build.add_argument(
        "--source", type=nonblank("a path, URL or `kestra`"), action="append", metavar="SOURCE", help="repeatable"
    )
    build.add_argument(
        "--rebuild",
        action="store_true",
        help="drop everything the index holds, whatever its state (a damaged index too), and embed from scratch",
    )
    _index_options(build)
    build.set_defaults(handler=_index_build)
    status = actions.add_parser("status", help="what the index holds and where it came from")
    _index_options(status)
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_index_status)

    search = commands.add_parser("search", help="search the index: ranked chunks with their sources and scores")
    search.add_argument("query", type=nonblank("the words to search for"))
    search.add_argument("-k", type=positive_int, default=8, help="how many hits (default 8)")
    search.add_argument("--kind", action="append", choices=KINDS, help="only these kinds (repeatable)")
    search.add_argument(
        "--mode",
        choices=SEARCH_MODES,
        default="fusion",
        help="fusion (default): dense and BM25 fused, by relevance; hybrid: then the hits that together cover "
        "the plugin types, as a turn sends the model",
    )
    search.add_argument("--json", action="store_true")
    _index_options(search)
    search.set_defaults(handler=search_command)


def add_eval_parsers(evaluations: Commands) -> None:
    """`eval retrieval`, in the `eval` family (the others: cli_eval)."""
    retrieval = evaluations.add_parser(
        "retrieval",
        help="type recall@k and MRR of dense, BM25 and hybrid retrieval over blueprint cases",
        description="Query with each blueprint's title, exclude that blueprint from its own results, and "
        "score the plugin types retrieved. The eval index is kept (incremental) in the cache dir.",
    )
    retrieval.add_argument("--cases", required=True, type=Path, help="JSONL of blueprints (title, task_types)")
    retrieval.add_argument(
        "--source",
        action="append",
        metavar="SOURCE",
        help="what to index (default: the cases' folder and kestra-docs/, kestra-plugin-docs/ beside it)",
    )
    retrieval.add_argument("-k", type=positive_int, default=8)
    retrieval.add_argument("--limit", type=positive_int, help="only the first N cases")
    retrieval.add_argument("--index", type=Path, help="index folder (default: <cache dir>/eval-index)")
    retrieval.add_argument("--json", action="store_true", help="per-case results as JSON")
    retrieval.set_defaults(handler=retrieval_eval_command)


def _index_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", type=Path, help="index folder (default: <data dir>/index)")
    parser.add_argument("--chroma-url", help="a Chroma server (default: embedded in the index folder)")
    parser.add_argument(
        "--embeddings",
        metavar="MODEL",
        help="minilm (default: local, offline), gemini or gemini:MODEL (Gemini's embedding API)",
    )


def _open_index(args: argparse.Namespace, settings: Settings, default: Path | None = None) -> Index:
    from .config import with_embeddings
    from .retrieval.index import Index
    from .workspace import Workspace

    if getattr(args, "embeddings", None):
        settings = with_embeddings(settings, args.embeddings)
    folder = args.index or default or settings.index_dir
    chroma_url = getattr(args, "chroma_url", None) or settings.chroma_url
    return Index(folder, cache_dir=settings.cache_dir, chroma_url=chroma_url, embedder=Workspace(settings).embedder())


class ProgressBar:
    """`embedding ██████░░░░ 1234/5000 (17/s, 3m40s left)` on a terminal; a line every 10 % otherwise."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label, self.stream = label, stream or sys.stderr
        self.started = time.perf_counter()
        self.tty = self.stream.isatty()
        self._last_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        elapsed = max(time.perf_counter() - self.started, 1e-6)
        rate = done / elapsed
        left = (total - done) / rate if rate else 0
        eta = f"{int(left // 60)}m{int(left % 60):02d}s left" if done < total else f"{elapsed:.0f}s"
        if self.tty:
            filled = int(30 * done / total) if total else 30
            bar = "█" * filled + "░" * (30 - filled)
            self.stream.write(f"\r{self.label} {bar} {done}/{total} ({rate:.0f}/s, {eta})")
            if done >= total:
                self.stream.write("\n")
        elif total and (tenth := 10 * done // total) != self._last_tenth:
            self._last_tenth = tenth
            self.stream.write(f"{self.label}: {done}/{total} ({rate:.0f}/s, {eta})\n")
        self.stream.flush()


def _loaded(result: LoadResult) -> str:
    """`  10 chunks from 10 files`, and the YAML files left out because they are not flows, counted."""
    line = f"  {counted(len(result.chunks), 'chunk')} from {counted(result.files, 'file')}"
    if skipped := result.not_flows:
        names = ", ".join(skipped[:3]) + (", …" if len(skipped) > 3 else "")
        what = "files skipped, not flows" if len(skipped) > 1 else "file skipped, not a flow"
        line += f"; {len(skipped)} YAML {what} (no id, namespace and tasks): {names}"
    return line


def build_index(index: Index, sources: list[Source], settings: Settings, *, rebuild: bool = False) -> BuildReport:
    """Load every source, then bring the index to exactly those chunks. A source that cannot be read
    stops the build (nothing changed), unless it is optional: then its chunks already indexed are kept.
    `rebuild` drops what the index holds first, whatever state it is in (a damaged index is not read)."""
    from .retrieval.sources import SourceError, load
    from .workspace import Workspace

    kestra = Workspace(settings).kestra if settings.kestra_url else None
    chunks, names, warnings, kestra_version = [], {}, [], None
    previous = {} if rebuild else index.chunks()
    for source in sources:
        print(printable(f"reading {source.name} ({source.describe()})…"), file=sys.stderr)
        try:
            result = load(source, cache_dir=settings.cache_dir, kestra=kestra)
        except SourceError as exc:
            if not source.optional:
                raise
            kept = [c for c in previous.values() if c.source == source.name]
            kept_note = f"its {len(kept)} chunks already indexed are kept" if kept else "the index is built without it"
            warnings.append(f"{exc} Skipped; {kept_note}.")  # the error names the source
            chunks.extend(kept)
            if kept:
                names[source.name] = source.describe()
            continue
        warnings.extend(result.warnings)
        chunks.extend(result.chunks)
        names[source.name] = source.describe()
        kestra_version = result.kestra_version or kestra_version
        print(printable(_loaded(result)), file=sys.stderr)
    for warning in warnings[:20]:  # they quote file names, titles and server answers
        print(printable(f"warning: {warning}"), file=sys.stderr)
    if len(warnings) > 20:
        print(f"… and {len(warnings) - 20} more warnings", file=sys.stderr)
    report = index.build(
        chunks, sources=names, kestra_version=kestra_version, progress=ProgressBar("embedding"), rebuild=rebuild
    )
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return report


def _index_build(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .retrieval.sources import default_sources, parse_source

    settings = load_settings()
    index = _open_index(args, settings)
    sources = (
        [parse_source(s) for s in args.source] if args.source else default_sources(kestra=bool(settings.kestra_url))
    )
    report = build_index(index, sources, settings, rebuild=args.rebuild)
    print(
        f"index {index.folder}: {report.total} chunks ({report.added} embedded, {report.kept} unchanged, "
        f"{report.removed} removed) in {report.seconds:.1f}s"
    )
    if (note := _no_docs_note(index, sources)) is not None:
        print(printable(note), file=sys.stderr)
    return EXIT_OK


def _no_docs_note(index: Index, sources: list[Source]) -> str | None:
    """What an index without documentation means, and how to add some: offline, the default build holds only
    corpus/'s example flows, and a doc search finds nothing."""
    chunks = index.chunks().values()
    if any(chunk.kind in ("doc", "plugin-doc") for chunk in chunks):
        return None
    kept = index.sources()
    skipped = [source.name for source in sources if source.name not in kept]
    command = [shlex.quote(f"{name}={where}") for name, where in kept.items() if "://" not in where]
    return (
        f"note: the index holds {f'only {len(chunks)} example flows' if chunks else 'nothing'} and no documentation"
        + (f" ({', '.join(skipped)} skipped)" if skipped else "")
        + ": searches for docs find nothing, and the assistant is grounded on these flows alone.\n"
        "hint: add documentation you have on disk, keeping these sources: `kestra-copilot index build "
        + "".join(f"--source {source} " for source in command)
        + "--source docs=PATH` (PATH: a folder of Markdown pages, e.g. src/contents/docs in a checkout of "
        "github.com/kestra-io/docs). `--source kestra` adds the plugin docs of the Kestra server at KESTRA_URL; "
        "online, `kestra-copilot index build` downloads Kestra's docs and blueprints."
    )


def _index_status(args: argparse.Namespace) -> int:
    from .config import load_settings

    settings = load_settings()
    index = _open_index(args, settings)
    status = index.status()
    catalog = _catalog(settings)
    if args.json:
        status["catalog"] = {"source": catalog.source, "plugin_types": catalog.plugin_types, "note": catalog.note}
        print(json.dumps(status, indent=2))
        return EXIT_OK
    if not status.get("chunks"):
        print(f"The index at {index.folder} is empty. Build it with `kestra-copilot index build`.")
        _print_catalog(catalog)
        return EXIT_OK
    print(f"index:      {status['folder']}" + (f" (Chroma at {status['chroma_url']})" if status["chroma_url"] else ""))
    print(f"chunks:     {status['chunks']} ({status.get('embedded', 0)} embedded)")
    print(f"model:      {status.get('embedding_model')}, chunker v{status.get('chunker_version')}")
    if (mismatch := index.embeddings_mismatch()) is not None:
        print(f"warning:    {mismatch}")
    print(f"kestra:     {status.get('kestra_version') or 'no server source'}")
    print(f"built:      {status.get('built_at')}")
    for name, where in index.sources().items():
        print(printable(f"source:     {name} = {where}"))
    _print_catalog(catalog)
    return EXIT_OK


def _print_catalog(catalog: CatalogInForce) -> None:
    print(printable(f"catalog:    {catalog.line()}"))
    if catalog.note:
        print(printable(f"note:       {catalog.note}"))


def _catalog(settings: Settings) -> CatalogInForce:
    """The plugin catalog the assistant judges flows by and grounds the prompt on (Workspace.assistant_schema)."""
    from .catalog_in_force import catalog_in_force
    from .workspace import Workspace

    loaded = Workspace(settings).assistant_schema(settings.kestra_version)
    return catalog_in_force(loaded.schema, loaded.note)


def search_command(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .retrieval.hybrid import DenseUnavailable, search

    # A script runs one search per process, and at its exit the interpreter's last garbage collection went
    # through every object Chroma and onnxruntime had made (~0.15 s). Frozen at exit, they are left to the
    # operating system, which takes the process's memory back at once; a process that goes on is not affected.
    atexit.unregister(gc.freeze)  # once, however many searches a process makes
    atexit.register(gc.freeze)
    settings = load_settings()
    index = _open_index(args, settings)
    index.require_built()
    if (mismatch := index.embeddings_mismatch()) is not None:
        print(f"warning: {mismatch}", file=sys.stderr)
    try:
        hits = search(index, args.query, k=args.k, kinds=args.kind, mode=args.mode)
    except DenseUnavailable as exc:
        print(printable(f"warning: {exc}" + (f"\n  hint: {exc.hint}" if exc.hint else "")), file=sys.stderr)
        hits = exc.hits
    if args.json:
        print(json.dumps([_hit_json(rank, hit) for rank, hit in enumerate(hits, 1)], indent=2))
        return EXIT_OK
    if not hits:
        print("No matches.")
    for rank, hit in enumerate(hits, 1):
        ranks = ", ".join(
            f"{name} #{r}" for name, r in (("dense", hit.dense_rank), ("bm25", hit.lexical_rank)) if r is not None
        )
        print(printable(f"{rank}. [{hit.chunk.kind}] {hit.chunk.title or '(untitled)'}"))  # from indexed pages
        print(printable(f"   {hit.chunk.source}: {hit.chunk.location}"))
        print(f"   score {hit.score:.4f}" + (f" ({ranks})" if ranks else ""))
        if hit.chunk.plugin_types:
            print(printable(f"   types: {', '.join(hit.chunk.plugin_types[:6])}"))
    return EXIT_OK


def _hit_json(rank: int, hit: Hit) -> dict[str, object]:
    chunk = hit.chunk
    return {
        "rank": rank,
        "id": chunk.id,
        "score": hit.score,
        "dense_rank": hit.dense_rank,
        "bm25_rank": hit.lexical_rank,
        "kind": chunk.kind,
        "title": chunk.title,
        "source": chunk.source,
        "location": chunk.location,
        "plugin_types": list(chunk.plugin_types),
        "tokens": chunk.tokens,
        "text": chunk.text,
    }


def retrieval_eval_command(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .evaluation.retrieval import load_cases, run_retrieval_eval
    from .retrieval.sources import parse_source

    settings = load_settings()
    cases = load_cases(args.cases, limit=args.limit)
    if args.source:
        sources = [parse_source(s) for s in args.source]
    else:
        here = args.cases.resolve().parent
        folders = [here, here.parent / "kestra-docs", here.parent / "kestra-plugin-docs"]
        sources = [parse_source(str(f)) for f in folders if f.is_dir()]
    index = _open_index(args, settings, default=settings.cache_dir / "eval-index")
    build_index(index, sources, settings)
    print(f"scoring {len(cases)} cases at k={args.k}…", file=sys.stderr)
    scores = run_retrieval_eval(index, cases, k=args.k)
    if args.json:
        out = {
            s.mode: {
                "type_recall": s.recall,
                "mrr": s.mrr,
                "p50_ms": s.p50_ms,
                "cases": [vars(c) for c in s.cases],
            }
            for s in scores
        }
        print(json.dumps({"k": args.k, "cases": len(cases), "modes": out}, indent=2))
        return EXIT_OK
    print(f"retrieval eval: {len(cases)} cases from {args.cases}, k={args.k}, index {index.folder}")
    print(f"{'mode':<8} {'type recall@' + str(args.k):>15} {'MRR':>7} {'query p50':>10}")
    for score in scores:
        print(f"{score.mode:<8} {score.recall:>15.3f} {score.mrr:>7.3f} {score.p50_ms:>8.1f}ms")
    print("(fusion = hybrid's rank fusion without its plugin-type coverage selection)")
    by_mode = {s.mode: s for s in scores}
    if {"hybrid", "dense", "bm25"} <= by_mode.keys():
        hybrid = by_mode["hybrid"].recall
        best_single = max(by_mode["dense"].recall, by_mode["bm25"].recall)
        verdict = "met" if hybrid >= 0.8 and hybrid > best_single else "NOT met"
        print(f"goal (hybrid ≥ 0.8 and above both single methods): {verdict}")
    return EXIT_OK

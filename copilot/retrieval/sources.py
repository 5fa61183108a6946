"""Where the corpus comes from, and fetching it.

A source is one of:
    a path       a Markdown/MDX file, a flow YAML, a JSONL of flows, or a folder of them
    an https URL a release tarball (.tar.gz) of docs or flows, downloaded with a conditional GET and cached
    `kestra`     the connected Kestra server: the docs of exactly the plugins it has, and its blueprints

`name=target` names a source explicitly (`docs=https://…/docs.tar.gz#src/contents/docs`: the part after
`#` keeps only that folder of the archive). With no source given, `index build` uses the project's own
`corpus/`, the sources its `manifest.yaml` lists, and the Kestra server when one is configured.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import httpx
import yaml

from ..errors import CopilotError
from ..fileio import FileError, decode_utf8, size_text
from ..private_files import private_dir
from .flows import flow_chunk
from .loaders import MAX_FILE_BYTES, LoadResult, dedupe, load_document, load_source, loadable
from .markdown import chunk_markdown

if TYPE_CHECKING:
    from ..kestra.client import KestraClient

__all__ = ["KESTRA", "Source", "SourceError", "corpus_dir", "default_sources", "load", "parse_source"]

KESTRA = "kestra"
MAX_TARBALL_BYTES = 300_000_000  # downloaded
MAX_UNPACKED_BYTES = 200_000_000  # the documents read out of one archive, in total (each: MAX_FILE_BYTES)
MAX_TAR_MEMBERS = 200_000  # entries of one archive, read or skipped
PLUGIN_GROUPS = ("tasks", "triggers", "conditions", "taskRunners")
CONCURRENT_REQUESTS = 8


class SourceError(CopilotError):
    pass


@dataclass(frozen=True)
class Source:
    name: str
    target: str  # a path, an http(s) URL, or "kestra"
    subdir: str = ""  # in a tarball: only this folder
    optional: bool = False  # a failure to fetch it is a warning, not an error

    @property
    def kind(self) -> str:
        if self.target == KESTRA:
            return "kestra"
        return "tarball" if self.target.startswith(("http://", "https://")) else "path"

    def describe(self) -> str:
        return self.target + (f"#{self.subdir}" if self.subdir else "")


def parse_source(text: str) -> Source:
    """`PATH`, `URL[#folder]`, `kestra`, each optionally prefixed by `name=`."""
    name, _, target = text.partition("=") if "=" in text.split("://", 1)[0] else ("", "", text)
    target = target.strip()
    if not target:
        raise SourceError(f"Empty source {text!r}.", hint="Give a path, an https URL to a .tar.gz, or `kestra`.")
    if target == KESTRA:
        return Source(name or KESTRA, KESTRA)
    if target.startswith(("http://", "https://")):
        url, _, subdir = target.partition("#")
        default = PurePosixPath(urlparse(url).path).name.split(".")[0] or urlparse(url).hostname or "remote"
        return Source(name or default, url, subdir.strip("/"))
    path = Path(target).expanduser()
    return Source(name or path.resolve().name, str(path))


def corpus_dir() -> Path:
    """The project's own example flows and source manifest (`corpus/` beside the package)."""
    return Path(__file__).resolve().parents[2] / "corpus"


def default_sources(*, kestra: bool) -> list[Source]:
    """corpus/, the sources its manifest lists, and the Kestra server when one is configured (`kestra`)."""
    sources = [Source("corpus", str(corpus_dir() / "flows"))]
    manifest = corpus_dir() / "manifest.yaml"
    if manifest.is_file():
        for entry in (yaml.safe_load(manifest.read_text()) or {}).get("sources") or []:
            source = parse_source(f"{entry['name']}={entry['url']}")
            sources.append(Source(source.name, source.target, source.subdir, optional=True))
    if kestra:
        sources.append(Source(KESTRA, KESTRA, optional=True))
    return sources


def load(source: Source, *, cache_dir: Path, kestra: Callable[[], KestraClient] | None = None) -> LoadResult:
    """Every chunk of `source` (`kestra` makes the client for the `kestra` source). Raises SourceError,
    naming the source, when it cannot be read at all."""
    try:
        if source.kind == "path":
            if not Path(source.target).exists():
                raise SourceError(f"{source.target} does not exist.")
            return load_source(source.target, source=source.name)
        if source.kind == "tarball":
            archive = _download(source.target, cache_dir / "sources")
            return _load_tarball(archive, source)
        if kestra is None:
            raise SourceError("no Kestra server is configured.", hint="Set KESTRA_URL, or drop `--source kestra`.")
        return asyncio.run(_load_kestra(source, kestra))
    except SourceError as exc:
        raise SourceError(f"Source {source.name}: {exc}", hint=exc.hint) from exc


# --- tarballs -------------------------------------------------------------------------------------------
def cached_archive(url: str, folder: Path) -> Path:
    """Where the download cache keeps the archive of `url` (its ETag and date beside it, `.json`)."""
    return folder / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}.tar.gz"


def _download(url: str, folder: Path) -> Path:
    """The archive at `url`, from the cache when the server says it has not changed (ETag/Last-Modified)."""
    private_dir(folder)
    archive = cached_archive(url, folder)
    meta_path = archive.with_name(archive.name.removesuffix(".tar.gz") + ".json")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() and archive.is_file() else {}
    headers = {}
    if meta.get("etag"):
        headers["If-None-Match"] = meta["etag"]
    if meta.get("last_modified"):
        headers["If-Modified-Since"] = meta["last_modified"]
    try:
        with httpx.stream("GET", url, headers=headers, follow_redirects=True, timeout=60) as response:
            if response.status_code == 304:
                return archive
            if response.status_code >= 400:
                raise SourceError(f"{url} answered HTTP {response.status_code}.", hint="Check the URL.")
            partial = archive.with_suffix(".part")
            size = 0
            with partial.open("wb") as out:
                for block in response.iter_bytes():
                    size += len(block)
                    if size > MAX_TARBALL_BYTES:
                        partial.unlink()
                        raise SourceError(f"{url} is larger than {MAX_TARBALL_BYTES // 1_000_000} MB; not indexed.")
                    out.write(block)
            partial.replace(archive)
            etag, modified = response.headers.get("etag"), response.headers.get("last-modified")
            meta_path.write_text(json.dumps({"url": url, "etag": etag, "last_modified": modified}))
            return archive
    except httpx.HTTPError as exc:
        if archive.is_file():  # offline: the last copy is better than nothing
            return archive
        if isinstance(exc, httpx.ConnectError):
            reason = "cannot connect (offline?)"
        elif isinstance(exc, httpx.TimeoutException):
            reason = "timed out"
        else:
            reason = exc.__class__.__name__
        raise SourceError(
            f"Cannot download {url}: {reason}.",
            hint="Check the network, or index a local copy (--source PATH).",
        ) from exc


def _load_tarball(archive: Path, source: Source) -> LoadResult:
    """Documents are read from the archive in memory: nothing is extracted, so no member can write
    outside a folder, whatever its name, and links are never followed (only regular members are read).
    A small archive can unpack to gigabytes: each document is read up to MAX_FILE_BYTES, all of them up
    to MAX_UNPACKED_BYTES, and at most MAX_TAR_MEMBERS entries are looked at; past a total, the source is
    refused (SourceError) rather than indexed in part."""
    result = LoadResult()
    prefix = PurePosixPath(source.subdir) if source.subdir else None
    unpacked = 0
    try:
        with tarfile.open(archive, "r|*") as tar:  # a stream: one member at a time, nothing kept
            for count, member in enumerate(tar, 1):
                tar.members = []  # type: ignore[attr-defined]  # tarfile keeps every header it has read; a bomb of empty entries grows it
                if count > MAX_TAR_MEMBERS:
                    raise SourceError(
                        f"{source.target} has more than {MAX_TAR_MEMBERS:,} entries; not indexed.",
                        hint="Check the URL, or keep one folder of it (URL#folder).",
                    )
                if not member.isfile() or not loadable(member.name):
                    continue
                parts = PurePosixPath(member.name).parts[1:]  # drop the archive's top folder
                if not parts or ".." in parts:
                    continue
                inner = PurePosixPath(*parts)
                if prefix and not inner.is_relative_to(prefix):
                    continue
                if member.size > MAX_FILE_BYTES:
                    result.warnings.append(f"{source.name}: {inner} is over the size limit, skipped")
                    continue
                unpacked += member.size
                if unpacked > MAX_UNPACKED_BYTES:
                    raise SourceError(
                        f"{source.target} unpacks to more than "
                        f"{size_text(MAX_UNPACKED_BYTES)} of documents; not indexed.",
                        hint="Check the URL, or keep one folder of it (URL#folder).",
                    )
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                location = str(inner.relative_to(prefix) if prefix else inner)
                try:
                    text = decode_utf8(handle.read(MAX_FILE_BYTES), f"{source.name}: {location}")
                except FileError as exc:  # read as every file is: strict UTF-8
                    result.warnings.append(f"{exc.message.removesuffix('.')}; skipped")
                    continue
                load_document(text, suffix=inner.suffix, source=source.name, location=location, result=result)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise SourceError(f"{source.target} is not a readable tar archive ({exc}).") from exc
    return dedupe(result)


# --- a Kestra server ------------------------------------------------------------------------------------
def _items(value: object) -> list[object]:
    """A plugin's list of classes of one group (tasks, triggers …); none when the answer holds no list."""
    return value if isinstance(value, list) else []


async def _load_kestra(source: Source, kestra: Callable[[], KestraClient]) -> LoadResult:
    from ..kestra import KestraError

    result = LoadResult()
    try:
        async with kestra() as client:
            result.kestra_version = (await client.server_info()).version
            plugins = await client.plugins()
            classes = sorted(
                {
                    str(element["cls"])
                    for plugin in plugins
                    for group in PLUGIN_GROUPS
                    for element in _items(plugin.get(group))
                    if isinstance(element, dict) and element.get("cls") and not element.get("deprecated")
                }
            )
            limit = asyncio.Semaphore(CONCURRENT_REQUESTS)

            async def plugin_page(cls: str) -> None:
                async with limit:
                    try:
                        markdown = await client.plugin_markdown(cls)
                    except KestraError as exc:
                        result.warnings.append(f"{source.name}: no documentation for {cls} ({exc})")
                        return
                if markdown.strip():
                    location = f"{client.url}/plugins/{cls}"
                    title = cls.rsplit(".", 1)[-1]
                    result.add(
                        chunk_markdown(
                            markdown,
                            source=source.name,
                            location=location,
                            kind="plugin-doc",
                            plugin_type=cls,
                            title=title,
                        )
                    )
                    result.files += 1

            await asyncio.gather(*(plugin_page(cls) for cls in classes))
            try:
                blueprints = await client.community_blueprints()
            except KestraError as exc:  # community blueprints are proxied from kestra.io: may be offline
                result.warnings.append(f"{source.name}: no community blueprints ({exc})")
                blueprints = []

            async def blueprint(item: dict[str, object]) -> None:
                async with limit:
                    try:
                        text = await client.blueprint_source(str(item["id"]))
                    except KestraError as exc:
                        result.warnings.append(f"{source.name}: blueprint {item['id']} unreadable ({exc})")
                        return
                result.add(
                    [
                        flow_chunk(
                            text,
                            source=source.name,
                            location=f"{client.url}/ui/main/blueprints/flow/{item['id']}",
                            title=str(item.get("title") or ""),
                            description=str(item.get("description") or ""),
                            blueprint=True,
                        )
                    ]
                )
                result.files += 1

            await asyncio.gather(*(blueprint(item) for item in blueprints if item.get("id")))
    except KestraError as exc:
        raise SourceError(str(exc), hint=exc.hint) from exc
    result.chunks.sort(key=lambda c: (c.location, c.title))  # gather finishes in any order
    return dedupe(result)

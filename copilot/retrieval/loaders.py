"""Sources on disk → chunks: a Markdown/MDX file, a flow YAML file, a JSONL of flows, or a folder of any
of them. Files are read as strict UTF-8, as every command reads them: a file that is not (latin-1, a binary)
is skipped with a warning naming the byte, never indexed with replacement characters; problems are
collected as warnings, not printed. Only regular files are read (a FIFO would hang the
build), up to MAX_FILE_BYTES each, and a link in a folder is followed only to a file inside that folder:
a source is what the folder holds, never `/etc/passwd` or a key file beside it. Every chunk is redacted
as it is added (`LoadResult.add`): a credential in a page or a flow of a source reaches neither the index
on disk, nor an embedding API, nor a prompt."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..fileio import FileError, read_text
from ..flows import redact_secrets
from .chunks import Chunk
from .flows import flow_chunk, flows_from_jsonl, is_flow, yaml_problem
from .markdown import chunk_markdown, split_front_matter

__all__ = ["MAX_FILE_BYTES", "LoadResult", "dedupe", "load_document", "load_source", "loadable"]

MAX_FILE_BYTES = 5_000_000
_SKIP_DIRS = {"node_modules", "__pycache__", "venv", ".venv", "dist", "build"}
_DOC_SUFFIXES = {".md", ".mdx"}
_FLOW_SUFFIXES = {".yml", ".yaml"}


@dataclass
class LoadResult:
    chunks: list[Chunk] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: int = 0
    not_flows: list[str] = field(default_factory=list)  # YAML files that are not flows (a manifest, a config)
    kestra_version: str | None = None  # set when the chunks come from a Kestra server

    def add(self, chunks: list[Chunk]) -> None:
        self.chunks.extend(map(_redacted, chunks))


def _redacted(chunk: Chunk) -> Chunk:
    text, found = redact_secrets(chunk.text)
    return replace(chunk, text=text, content_hash="") if found else chunk


def _read(path: Path, result: LoadResult) -> str | None:
    try:
        return read_text(path, limit=MAX_FILE_BYTES, what="document")
    except FileError as exc:
        result.warnings.append(f"{exc.message.removesuffix('.').removesuffix(': it was not read')}; skipped")
        return None


def loadable(name: str) -> bool:
    """Whether a file of this name is a document or flow the loaders read."""
    return Path(name).suffix.lower() in _DOC_SUFFIXES | _FLOW_SUFFIXES | {".jsonl"}


def load_document(text: str, *, suffix: str, source: str, location: str, result: LoadResult) -> None:
    """One document's chunks into `result`: Markdown/MDX, a flow YAML, or a JSONL of flows. A YAML file that
    is not a flow (no `id`, `namespace` and `tasks`) is not indexed: its place goes to `result.not_flows`."""
    suffix = suffix.lower()
    if suffix in _FLOW_SUFFIXES and not is_flow(text):
        if problem := yaml_problem(text):  # a broken file is said to be broken, not to be something else
            result.warnings.append(f"{location} is not valid YAML ({problem}); skipped")
        else:
            result.not_flows.append(location)
        return
    result.files += 1
    if suffix in _DOC_SUFFIXES:
        front, _ = split_front_matter(text)
        kind = "plugin-doc" if front.get("type", "").startswith("io.kestra.") else "doc"
        result.add(chunk_markdown(text, source=source, location=location, kind=kind))
    elif suffix == ".jsonl":
        result.add(list(flows_from_jsonl(text, source=source, location=location, warnings=result.warnings)))
    else:
        result.add([flow_chunk(text, source=source, location=location)])


def _load_file(path: Path, source: str, location: str, result: LoadResult, root: Path | None = None) -> None:
    if not loadable(path.name):
        return
    if root is not None and path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(root):
            result.warnings.append(f"{path}: a link to {target}, outside the source folder; skipped")
            return
        path = target
    text = _read(path, result)
    if text is not None:
        load_document(text, suffix=path.suffix, source=source, location=location, result=result)


def dedupe(result: LoadResult) -> LoadResult:
    """The same text twice at one place is one chunk."""
    unique: dict[str, Chunk] = {}
    for chunk in result.chunks:
        unique.setdefault(chunk.id, chunk)
    result.chunks = list(unique.values())
    return result


def load_source(path: Path | str, *, source: str | None = None) -> LoadResult:
    """Every chunk under `path`; `source` names it in the index (default: the folder or file name)."""
    root = Path(path)
    name = source or root.stem if root.is_file() else source or root.name
    result = LoadResult()
    if root.is_file():
        _load_file(root, name, root.name, result)
    elif root.is_dir():
        inside = root.resolve()
        for folder, dirs, files in os.walk(root):  # links to folders are not walked into (followlinks=False)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
            for file_name in sorted(files):
                # A source folder's own README describes the folder, not Kestra.
                if not file_name.startswith(".") and not (folder == str(root) and file_name.upper() == "README.MD"):
                    file = Path(folder) / file_name
                    _load_file(file, name, file.relative_to(root).as_posix(), result, inside)
    else:
        result.warnings.append(f"{root}: no such file or folder")
    return dedupe(result)

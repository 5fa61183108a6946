"""Markdown/MDX documents → heading-aware chunks.

Each chunk keeps its breadcrumb (page title > h2 > h3 …) and never cuts a fenced code block: a code
block is one unit, and one too long for a chunk becomes a chunk of its own (one over the hard limit is
split at line boundaries, each part re-fenced, so every part is still valid Markdown). Front matter is
stripped (its `title` roots the breadcrumb); MDX imports/exports, JSX tags and `:::` directives are
dropped, keeping the text inside them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from .chunks import Chunk, estimate_tokens, plugin_types_in

__all__ = ["MAX_TOKENS", "TARGET_TOKENS", "chunk_markdown", "split_front_matter"]

TARGET_TOKENS = 300
MAX_TOKENS = 600
HARD_MAX_TOKENS = 2000  # a code block longer than this is split, re-fenced

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_MDX_LINE = re.compile(r"^\s*(?:import\s.+\sfrom\s.+|export\s.+|</?[A-Z][\w.]*(?:\s[^>]*)?/?>\s*|:::.*)$")
# JSX components inline: self-closing, with attributes, or closing tags. A bare `<String>` is left alone:
# it is far more often a Java generic (`Property<String>`) than a component.
_INLINE_JSX = re.compile(r"<[A-Z][\w.]*(?:\s[^<>]*)?/>|<[A-Z][\w.]*\s[^<>]*=[^<>]*>|</[A-Z][\w.]*>")


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """(simple `key: value` pairs of the front matter, the rest of the document)."""
    if not text.startswith("---"):
        return {}, text
    end = re.search(r"^---\s*$", text[3:], re.M)
    if not end:
        return {}, text
    block, rest = text[3 : 3 + end.start()], text[3 + end.end() :]
    fields = {}
    for line in block.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith((" ", "\t")):
            fields[key.strip()] = value.strip().strip("'\"")
    return fields, rest.lstrip("\n")


@dataclass
class _Block:
    text: str
    code: bool = False


@dataclass
class _Section:
    trail: tuple[str, ...]
    anchor: str
    blocks: list[_Block]
    group: bool = False  # small siblings merged under their parent (trail is the parent's)


def _anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.lower()).strip().replace(" ", "-")


def _sections(body: str) -> Iterator[_Section]:
    trail: list[tuple[int, str]] = []
    blocks: list[_Block] = []
    paragraph: list[str] = []
    fence: tuple[str, int] | None = None
    code: list[str] = []
    anchor = ""

    def flush_paragraph() -> None:
        text = "\n".join(paragraph).strip()
        if text:
            blocks.append(_Block(text))
        paragraph.clear()

    def section() -> _Section:
        return _Section(tuple(t for _, t in trail), anchor, list(blocks))

    for line in body.splitlines():
        if fence is not None:
            code.append(line)
            closing = _FENCE.match(line)
            if (
                closing
                and closing.group(1)[0] == fence[0]
                and len(closing.group(1)) >= fence[1]
                and not closing.group(2).strip()
            ):
                blocks.append(_Block("\n".join(code), code=True))
                code, fence = [], None
            continue
        opening = _FENCE.match(line)
        if opening:
            flush_paragraph()
            fence, code = (opening.group(1)[0], len(opening.group(1))), [line]
            continue
        heading = _HEADING.match(line)
        if heading:
            flush_paragraph()
            if blocks:
                yield section()
                blocks.clear()
            level, title = len(heading.group(1)), _INLINE_JSX.sub("", heading.group(2)).strip()
            while trail and trail[-1][0] >= level:
                trail.pop()
            trail.append((level, title))
            anchor = _anchor(title)
            continue
        if _MDX_LINE.match(line):
            continue
        if not line.strip():
            flush_paragraph()
        else:
            paragraph.append(_INLINE_JSX.sub("", line))
    if fence is not None:  # an unclosed fence runs to the end of the document
        blocks.append(_Block("\n".join(code), code=True))
    flush_paragraph()
    if blocks:
        yield section()


def _split_long(block: _Block) -> list[_Block]:
    """A block too long for one chunk: prose split at line (then sentence) boundaries; code split at
    line boundaries with its fence re-opened and closed in each part."""
    limit = MAX_TOKENS * 4 if not block.code else HARD_MAX_TOKENS * 4
    if len(block.text) <= limit:
        return [block]
    lines = block.text.split("\n")
    if block.code:
        opener, closer = lines[0], lines[-1] if _FENCE.match(lines[-1]) and len(lines) > 1 else lines[0][:3]
        inner = lines[1:-1] if _FENCE.match(lines[-1]) and len(lines) > 1 else lines[1:]
        parts: list[_Block] = []
        current: list[str] = []
        for line in inner:
            if current and sum(len(x) + 1 for x in current) + len(line) > limit:
                parts.append(_Block("\n".join([opener, *current, closer]), code=True))
                current = []
            current.append(line)
        parts.append(_Block("\n".join([opener, *current, closer]), code=True))
        return parts
    pieces = [p for line in lines for p in re.split(r"(?<=[.!?])\s+", line)] if len(lines) == 1 else lines
    blocks: list[_Block] = []
    text = ""
    for piece in pieces:
        while len(piece) > limit:  # one enormous line with no sentence breaks
            if text:
                blocks.append(_Block(text))
                text = ""
            blocks.append(_Block(piece[:limit]))
            piece = piece[limit:]
        if text and len(text) + len(piece) + 1 > limit:
            blocks.append(_Block(text))
            text = ""
        text = f"{text}\n{piece}" if text else piece
    if text:
        blocks.append(_Block(text))
    return blocks


def _pack(blocks: list[_Block]) -> Iterator[str]:
    """Blocks → chunk bodies of about TARGET_TOKENS, never above MAX_TOKENS except a lone code block."""
    current: list[str] = []
    size = 0
    for block in (part for b in blocks for part in _split_long(b)):
        tokens = estimate_tokens(block.text)
        if current and (size + tokens > MAX_TOKENS or size >= TARGET_TOKENS):
            yield "\n\n".join(current)
            current, size = [], 0
        current.append(block.text)
        size += tokens
    if current:
        yield "\n\n".join(current)


def _size(section: _Section) -> int:
    return sum(estimate_tokens(b.text) for b in section.blocks)


def _merge_small(sections: list[_Section]) -> list[_Section]:
    """Sibling sections too small to stand alone (a plugin page's one-paragraph property entries) are
    joined under their parent, each keeping its heading as a line of text, up to the target size."""
    merged: list[_Section] = []
    for section in sections:
        last = merged[-1] if merged else None
        small = _size(section) < TARGET_TOKENS // 2
        if last is not None and small and len(section.trail) > 1 and _size(last) + _size(section) <= TARGET_TOKENS:
            parent = section.trail[:-1]
            if last.group and last.trail == parent:
                pass
            elif not last.group and last.trail[:-1] == parent and _size(last) < TARGET_TOKENS // 2:
                last.blocks.insert(0, _Block(f"{'#' * min(6, len(last.trail) + 1)} {last.trail[-1]}"))
                last.trail, last.group = parent, True
            else:
                merged.append(_Section(section.trail, section.anchor, list(section.blocks)))
                continue
            last.blocks.append(_Block(f"{'#' * min(6, len(section.trail) + 1)} {section.trail[-1]}"))
            last.blocks.extend(section.blocks)
            continue
        merged.append(_Section(section.trail, section.anchor, list(section.blocks)))
    return merged


def chunk_markdown(
    text: str, *, source: str, location: str, kind: str = "doc", plugin_type: str | None = None, title: str = ""
) -> list[Chunk]:
    """Chunks of one Markdown/MDX document; `location` is its path or URL. `plugin_type` and `title` name
    the page when its front matter does not (a plugin page from a Kestra server)."""
    front, body = split_front_matter(text.replace("\r\n", "\n"))
    page_title = front.get("title", "").strip() or title
    page_type = plugin_type or front.get("type", "")
    page_types = (page_type,) if page_type.startswith("io.kestra.") else ()
    chunks = []
    for section in _merge_small(list(_sections(body))):
        trail = list(section.trail)
        if page_title and (not trail or trail[0] != page_title):
            trail.insert(0, page_title)
        breadcrumb = " > ".join(t for t in trail if t)
        place = f"{location}#{section.anchor}" if section.anchor else location
        for part in _pack(section.blocks):
            types = tuple(dict.fromkeys((*page_types, *plugin_types_in(part))))
            chunks.append(Chunk(part, kind, source, breadcrumb, place, types))
    return chunks

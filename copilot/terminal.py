"""Text from a model, a server or a file, made safe to show on a terminal.

    print(printable(reply))

A model, a Kestra log line, a retrieved page's title or a flow file can carry terminal escape sequences:
they could recolour or clear the screen, retitle the window, write the clipboard (OSC 52), hide text or
forge a prompt. `printable` removes every escape sequence (CSI, OSC, DCS, APC, PM, SOS, two-byte ESC
sequences, and their 8-bit C1 forms) and every other C0/C1 control character and DEL. Tabs and newlines
stay; CRLF, CR and NEL become a newline (no line overwrites another, and a line number still points at
the same line). Lone surrogates (undecodable bytes) become U+FFFD, so printing never raises either.
Everything else — any language, emoji, box drawing — is kept as is.
"""

from __future__ import annotations

import re

__all__ = ["printable", "strip_controls_in_textual"]

# ESC followed by a sequence introducer, through its terminator (or the line's end when it has none):
#   CSI  ESC [ params intermediates final      OSC/DCS/SOS/PM/APC  ESC ] P X ^ _ … BEL | ESC \ | ST
#   other ESC sequences: ESC, intermediates (0x20–0x2F), a final byte (0x30–0x7E)
_SEQUENCE = re.compile(
    r"""
      (?:\x1b\[|\x9b) [\x30-\x3f]* [\x20-\x2f]* [\x40-\x7e]?                 # CSI
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]) [^\x07\x1b\x9c\n]* (?:\x07|\x1b\\|\x9c)?  # strings, to a line end
    | \x1b [\x20-\x2f]* [\x30-\x7e]?                                         # the rest
    """,
    re.VERBOSE,
)
_LINE_BREAKS = re.compile(r"\r\n?|\x85")  # what YAML counts as a line break: kept as one, so lines still match
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 but \t and \n, DEL, C1
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` without terminal escape sequences or control characters (\\n and \\t kept)."""
    if text.isprintable():  # the common case: nothing to do (\n and \t are not "printable")
        return text
    text = _SEQUENCE.sub("", _LINE_BREAKS.sub("\n", text))
    text = _CONTROLS.sub("", text)
    return _SURROGATES.sub("\ufffd", text)


# Every C0 control but \t and \n, DEL and C1: what Textual and Rich should drop from any text they show.
_CONTROL_CODES = {code: None for code in (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))}


def strip_controls_in_textual() -> bool:
    """Make Textual (and Rich) drop every control character from the text they render, not only the five
    they drop by default (BEL, BS, VT, FF, CR): they pass ESC through, so a log line or a source title shown
    in a Static, a Syntax or a Markdown could drive the terminal. A safety net under `printable`, which
    the chat's own widgets apply. Both libraries strip with one module-level translate table, the default
    argument of their strip function; it is widened in place. Returns False if a table is not there (a
    new library version): tests/security/test_limits.py then fails, as it checks what is rendered."""
    import rich.control
    import textual.content

    tables = [getattr(module, "_CONTROL_STRIP_TRANSLATE", None) for module in (textual.content, rich.control)]
    for table in tables:
        if isinstance(table, dict):
            table.update(_CONTROL_CODES)
    return all(isinstance(table, dict) for table in tables)

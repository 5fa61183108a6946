"""Credentials in text: one set of patterns for the validator's `hardcoded-secret` lint and for the redactor
that runs on everything sent to a model or stored (requests, flows, retrieved chunks, Kestra logs, replies).

    vault = SecretVault()                  # one per conversation, in memory only, never stored
    safe, count = vault.redact(text)       # `password: hunter2` -> `password: REDACTED_1`
    flow = vault.restore(model_yaml)       # REDACTED_1 -> hunter2, where the user had it

A placeholder is `REDACTED_<n>`: a plain YAML scalar (a redacted flow stays valid YAML), the same `n` for the
same value within a vault, and a placeholder to the lint, not a secret. `redact_secrets(text)` is a one-off
vault. Pebble expressions (`{{ secret('X') }}`), `$VARS`, file names and obvious placeholders (`changeme`,
`<your-token>`, `my_api_key`) are left alone.

`restore` puts a value back only where the user had it: as the value of a key of the same name, or on a line
the same as the one it was redacted from. Anywhere else the placeholder stays, so a model (or text injected
into its prompt) cannot move a credential into a new place, such as a URL to another host.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import yaml

__all__ = [
    "PLACEHOLDER_PATTERN",
    "SecretVault",
    "find_secrets",
    "is_placeholder",
    "is_secret_key",
    "looks_like_secret_value",
    "redact_secrets",
]

PLACEHOLDER_PATTERN = re.compile(r"REDACTED_(\d+)(?![0-9])")
# While `redact` runs, each placeholder it issues is followed by one private-use character numbering the issue,
# so that where each one ends up is known once every rule has run; `_settle` removes them (characters of that
# plane already in the text are dropped first).
_MARKS = "[\U000f0000-\U000ffffd]"
_ISSUED = re.compile(r"REDACTED_(\d+)(" + _MARKS + ")")


def _mark(index: int) -> str:
    return chr(0xF0000 + index % 0xFFFE)


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


# --- names ---------------------------------------------------------------------------------------------------
# A key, variable or option names a credential when its last words (camelCase, snake_case, kebab-case or
# dotted, joined) are one of these: DB_PASS, SNOWFLAKE_PWD, apiKey, AWS_SECRET_ACCESS_KEY, --password.
_CREDENTIAL_WORDS = _wordset(
    "password passwd pwd pass pw passphrase passcode secret token credential credentials creds auth apikey "
    "accesskey secretkey privatekey accesskeyid secretkeyid accountkey signingkey encryptionkey sastoken "
    "webhookurl serviceaccount"
)
# Parts of a service-account key that identify it: redacted, but not a lint error on their own.
_IDENTITY_WORDS = frozenset({"privatekeyid", "clientemail"})
# One word with the credential at its end, as environment variables are often written: PGPASSWORD,
# SNOWFLAKEPASSWORD, DBPASS, MYSQLPWD (`bypass` and `compass` are not: `pass` needs a known owner before it).
_JOINED_CREDENTIAL = re.compile(
    r"\w+(?:password|passwd|passphrase)|\w+pwd|(?:db|pg|my|mysql|sql|root|admin|user|smtp|mail|s?ftp|ssh|redis|mongo)pass"
)
# maxToken, pageToken, --no-password: named after a credential, but not one.
_NOT_CREDENTIAL_WORDS = frozenset({"max", "min", "num", "page", "next", "continuation", "no"})


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


@functools.lru_cache(maxsize=4096)
def is_secret_key(name: str, *, identities: bool = False) -> bool:
    """Whether a key, variable or command-line option named `name` holds a credential; with `identities`,
    also the parts of a service-account key that identify it (`private_key_id`, `client_email`)."""
    words = _words(name)
    if not words or _NOT_CREDENTIAL_WORDS.intersection(words[:-1]):
        return False
    for size in (1, 2, 3):
        joined = "".join(words[-size:])
        if joined in _CREDENTIAL_WORDS or (identities and joined in _IDENTITY_WORDS):
            return True
    return bool(_JOINED_CREDENTIAL.fullmatch(words[-1]))


# --- values that are not secrets ---------------------------------------------------------------------------
_PLACEHOLDER = re.compile(
    r"""^(?:
        [^a-z0-9]*                                        # nothing but punctuation: ***, ???, ...
      | x+ | <[^>]*> | \[[^\]]*\] | \(.*\)                # xxxx, <your token>, [token]
      | \$\{[^}]*\} | \$\(.*\) | \$\w+ | %\w+%            # ${VAR}, $(cat file), $VAR, %VAR%: a reference
      | REDACTED_\d+[\U000f0000-\U000ffffd]?
      | changeme | change[-_]me | password | passwd | secret | token | none | null | nil | true | false
      | yes | no | on | off | basic | bearer | digest | oauth2? | required | optional | redacted\w*
      | your[_ -]?\w* | example\w* | dummy\w* | test\w* | sample\w* | fake\w* | placeholder\w*
      | my[_-]?(?:api[_-]?)?(?:password|passwd|pwd|pass|secret|token|key)\w*
      | (?-i:[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)                 # an environment variable's name: API_KEY
      | [~.]?/?[\w./-]+\.(?:json|pem|key|p12|pfx|crt|cer|jks|env|txt|ya?ml)  # a file holding it
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
# Words that follow "the password is" in prose without being one: "the password is stored in a secret".
_STOP_WORDS = _wordset(
    "a an the in on at of for to from by with without via into as is are was were be been being not no now "
    "then also still only never always already just and or but if it its this that these those there here "
    "your my our their his her you we they them set unset empty blank missing wrong correct incorrect invalid "
    "valid same different secret sensitive hidden needed used stored kept passed read sent available "
    "unavailable mandatory required optional flag option argument parameter prompt file stdin"
)
_PROSE_SUFFIXES = ("ed", "ing", "ly", "able", "ible", "tion", "ment", "ness", "ous", "ive", "ful", "less")


def is_placeholder(value: str) -> bool:
    """An obviously fake value or a reference, not a credential: `changeme`, `<token>`, `${PW}`,
    `{{ secret('PW') }}`, `REDACTED_1`, `sa.json`, `API_KEY`."""
    if "{{" in value or "{%" in value:  # a Pebble expression: the value comes from elsewhere
        return True
    return bool(_PLACEHOLDER.match(value.strip().strip("\"'`").strip()))


def _is_prose_word(value: str) -> bool:
    return value.isalpha() and value.islower() and (value in _STOP_WORDS or value.endswith(_PROSE_SUFFIXES))


def _looks_made_up(value: str) -> bool:
    """A token that reads like a password rather than a word or a name: a digit or a symbol in it."""
    if len(value) < 6 or re.fullmatch(r"[\d.,:/-]+", value):  # short, or a number, a date, a version
        return False
    return bool(re.search(r"\d|[@#$%^&*+=!?~]", value))


# --- what the redactor finds -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Found:
    raw: str  # as written: inside its quotes when quoted; a block's lines with their indentation
    quote: str  # '"', "'" or "" (plain, a block, or inside a larger string)
    kind: str  # what it is, as the lint says it: "a private key", "a literal value for `DB_PASS`"
    indent: str  # the leading blanks of the line it starts on


Emit = Callable[[_Found], str]


def _indent_at(text: str, position: int) -> str:
    start = text.rfind("\n", 0, position) + 1
    return re.match(r"[ \t]*", text[start:position]).group(0)  # type: ignore[union-attr]


def _found(text: str, start: int, raw: str, quote: str, kind: str) -> _Found:
    # Only a value spanning lines needs its line's indentation (to store it dedented); looking it up for every
    # value would cost a scan of the line each time, quadratic on a long line full of them.
    return _Found(raw, quote, kind, _indent_at(text, start) if "\n" in raw else "")


def _quoted_at(text: str, start: int, end: int) -> str:
    before, after = text[start - 1 : start], text[end : end + 1]
    return before if before in ("'", '"') and before == after else ""


def _has_placeholder(value: str) -> bool:
    return PLACEHOLDER_PATTERN.search(value) is not None


def _replace_groups(
    text: str, pattern: re.Pattern[str], emit: Emit, kind: Callable[[re.Match[str]], str | None]
) -> str:
    """Every match of `pattern` whose group `value` is a secret (`kind` says what it is, or None) replaced by
    what `emit` gives for it; the rest of the match stays."""

    def replace(match: re.Match[str]) -> str:
        value = match.group("value")
        if value is None or _has_placeholder(value) or is_placeholder(value):
            return match.group(0)
        what = kind(match)
        if what is None:
            return match.group(0)
        start, end = match.span("value")
        found = _found(text, start, value, _quoted_at(text, start, end), what)
        offset = match.start()
        whole = match.group(0)
        return whole[: start - offset] + emit(found) + whole[end - offset :]

    return pattern.sub(replace, text)


# Private keys in PEM form, whole: the armour lines and the base64 up to the END line, or to where the base64
# stops in a truncated paste (a JSON string keeps its `\n` escapes on one line). A header named in prose
# (`-----BEGIN RSA PRIVATE KEY-----`, …) has no body and stays.
_PEM_LABEL = r"(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
_PEM_BEGIN = re.compile(rf"-----BEGIN {_PEM_LABEL}")
_PEM_END = re.compile(rf"-----END {_PEM_LABEL}")
_PEM_BODY = re.compile(r"(?:[\w+/=:,.()@ \t-]|\\[nr]|\r?\n)*")  # armour headers, base64, line breaks
_PEM_LINES = re.compile(r"(?:(?:\\n|\r?\n)[ \t]*[A-Za-z0-9+/=]+(?=[ \t]*(?:\\n|\r?\n|$|[\"'])))+")
_PEM_MAX = 64_000  # far more than any key: a bound on how far one header is followed
# Credentials recognisable by their shape alone.
_TOKENS: list[tuple[str, str]] = [
    (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", "an AWS access key id"),
    (r"\bAIza[0-9A-Za-z_-]{35}\b", "a Google API key"),
    (r"\bxox[abposr]-[0-9A-Za-z-]{10,}", "a Slack token"),
    (r"https://hooks\.slack\.com/services/T[0-9A-Za-z]+/B[0-9A-Za-z]+/[0-9A-Za-z]{8,}", "a Slack webhook URL"),
    (r"https://hooks\.slack\.com/(?:triggers|workflows)/[0-9A-Za-z]+/[0-9A-Za-z/]{8,}", "a Slack workflow webhook URL"),
    (r"https://(?:\w+\.)?discord(?:app)?\.com/api/webhooks/\d+/[\w-]{16,}", "a Discord webhook URL"),
    (r"https://[\w-]+\.webhook\.office\.com/webhookb2/[\w@/-]{16,}", "a Microsoft Teams webhook URL"),
    # A signed URL (Teams and Power Automate workflows, Azure SAS, S3 and GCS pre-signed): its signature is the key.
    # Its search for the signature stops at the next `://` (another URL's start), so each start scans only its own.
    (r"https://(?:[^\s:]|:(?!//))+?[?&](?:sig|X-Amz-Signature|X-Goog-Signature)=[\w%/+=-]{16,}", "a signed URL"),
    (r"\b(?:gh[pousr]_[0-9A-Za-z]{30,}|github_pat_[0-9A-Za-z_]{40,})\b", "a GitHub token"),
    (r"\bglpat-[0-9A-Za-z_-]{20,}", "a GitLab token"),
    (r"\bsk-(?:proj-|ant-)?[0-9A-Za-z_-]{20,}", "an OpenAI/Anthropic API key"),
    (r"\b[sr]k_(?:live|test)_[0-9A-Za-z]{16,}", "a Stripe key"),
    # Started only where a run of base64url starts: from each `eyJ` inside `-eyJ-eyJ…` it would scan to the end.
    (r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", "a JSON web token"),
]
# One pattern, one pass; the lookahead on the first letters keeps it fast on long text.
_TOKEN_SHAPES = re.compile(
    "(?=[Aaxhgsre])(?P<value>" + "|".join(f"(?P<t{i}>{p})" for i, (p, _) in enumerate(_TOKENS)) + ")"
)
# An AWS secret access key: 40 characters of base64, with capitals, small letters and digits, and a / or +
# in it or an aws/secret/access word shortly before it (a git SHA has no capitals; prose has no 40-letter words).
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+_.-])(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=_-])")
_AWS_CONTEXT = re.compile(r"aws|secret|access", re.IGNORECASE)
_FAKE_RUN = re.compile(r"X{8,}|0{8,}")  # hooks.slack.com/services/T00000000/B00000000/XXXXXXXX


def _tokens(text: str, emit: Emit) -> str:
    def shape(match: re.Match[str]) -> str | None:
        if _FAKE_RUN.search(match.group(0)):
            return None
        return next(what for i, (_, what) in enumerate(_TOKENS) if match.group(f"t{i}") is not None)

    text = _replace_groups(text, _TOKEN_SHAPES, emit, shape)

    def aws(match: re.Match[str]) -> str | None:
        value = match.group("value")
        if not (re.search("[a-z]", value) and re.search("[A-Z]", value) and re.search("[0-9]", value)):
            return None
        if "/" in value or "+" in value or _AWS_CONTEXT.search(text, max(0, match.start() - 120), match.start()):
            return "an AWS secret access key"
        return None

    return _replace_groups(text, _AWS_SECRET, emit, aws)


# scheme://user:password@host, for any scheme (postgresql, sqlserver, https, amqp, jdbc:mysql …).
# The scheme starts where no scheme character precedes it: a long run of them is scanned once, not from each
# of its positions (which made `a-a-a-…` quadratic).
_URL_USERINFO = re.compile(
    r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@\"'{}]*:(?P<value>[^\s/?#@\"'{}]+)@(?=[\w\[])"
)
# Authorization headers (Bearer, Basic, Token …), a bare `Bearer <token>`, and `curl -u user:password`.
_AUTH_SCHEMES = r"(?:bearer|basic|token|digest|negotiate|apikey|sso-key)"
_AUTHORIZATION = re.compile(
    rf"(?i)\b(?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*[\"']?(?:{_AUTH_SCHEMES}[ \t]+)?"
    r"(?P<value>[A-Za-z0-9._~+/:-]{4,}=*)"
)
_BEARER = re.compile(r"\bBearer[ \t]+(?P<value>[A-Za-z0-9._~+/-]{16,}=*)")
_CURL_USER = re.compile(r"(?:(?<![\w-])-u|--user)[ \t]+[\"']?[^\s:\"'@]+:(?P<value>[^\s\"'@]+)")


def _authorization(text: str, emit: Emit) -> str:
    def header(match: re.Match[str]) -> str | None:
        value = match.group("value").rstrip(".,:;")
        if len(value) < 8 or re.fullmatch(_AUTH_SCHEMES, value, re.IGNORECASE) or _is_prose_word(value):
            return None
        return "an Authorization header"

    text = _replace_groups(text, _AUTHORIZATION, emit, header)
    text = _replace_groups(text, _BEARER, emit, lambda m: "a bearer token" if re.search(r"\d", m["value"]) else None)
    return _replace_groups(text, _CURL_USER, emit, lambda m: "a password in a command line")


_ARGUMENT = r"""(?P<value>"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^\s"'`;|&)]+)"""
# mysql -pPASSWORD (the password glued to -p), sshpass -p PASSWORD: the command, then its line's flags.
_MYSQL_LINE = re.compile(r"\b(?:mysql\w*|mariadb[\w-]*)\b[^\n]*")
_MYSQL_FLAG = re.compile(r"(?<=[ \t])-p" + _ARGUMENT)
_SSHPASS_LINE = re.compile(r"\bsshpass\b[^\n]*")
_SSHPASS_FLAG = re.compile(r"(?<=[ \t])-p[ \t]*" + _ARGUMENT)
# --password X, --password=X, -token X, --api-key=X.
_OPTION = re.compile(r"(?<![\w-])(?P<option>--?[A-Za-z][\w-]*)(?P<sep>=|[ \t]+)" + _ARGUMENT)


def _unquote_group(text: str, pattern: re.Pattern[str], emit: Emit, kind: Callable[[re.Match[str]], str | None]) -> str:
    """Like `_replace_groups`, for a value that may be written in quotes: only what is inside them goes."""

    def replace(match: re.Match[str]) -> str:
        value = match.group("value")
        start, end = match.span("value")
        if value[:1] in ("'", '"') and value[-1:] == value[:1] and len(value) >= 2:
            value, start, end = value[1:-1], start + 1, end - 1
        if not value or value.startswith("-") or _has_placeholder(value) or is_placeholder(value):
            return match.group(0)
        what = kind(match)
        if what is None:
            return match.group(0)
        found = _found(text, start, value, _quoted_at(text, start, end), what)
        whole, offset = match.group(0), match.start()
        return whole[: start - offset] + emit(found) + whole[end - offset :]

    return pattern.sub(replace, text)


def _command_lines(text: str, emit: Emit) -> str:
    def kind(_: re.Match[str]) -> str:
        return "a password in a command line"

    def unquoting(flag: re.Pattern[str]) -> Callable[[re.Match[str]], str]:
        return lambda line: _unquote_group(line.group(0), flag, emit, kind)

    for command, flag in ((_MYSQL_LINE, _MYSQL_FLAG), (_SSHPASS_LINE, _SSHPASS_FLAG)):
        text = command.sub(unquoting(flag), text)

    def option(match: re.Match[str]) -> str | None:
        name = match.group("option").lstrip("-")
        if not is_secret_key(name):
            return None
        value = match.group("value").strip("\"'")
        if match.group("sep") != "=" and _is_prose_word(value):  # "use the --token flag"
            return None
        return f"a literal value for `{match.group('option')}`"

    return _unquote_group(text, _OPTION, emit, option)


# KEY: value, KEY=value, "key": "value", export KEY='value', ?password=value&, Password=value; — and
# `key: |` blocks, whose key `is_secret_key`.
_ASSIGNMENT = re.compile(
    r"""(?<![\w.$/-])(?P<kq>["']?)(?P<name>[A-Za-z_][\w.-]*)(?P=kq)"""
    r"""(?P<sep>[ \t]*(?::(?=[ \t"'])|=(?!=))[ \t]*)"""
)
_BLOCK_INDICATOR = re.compile(r"[|>][-+0-9]*[ \t]*(?:#[^\n]*)?(?=\n|$)")
_DOUBLE_QUOTED = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
_SINGLE_QUOTED = re.compile(r"'((?:[^'\n]|'')*)'")
_TOKEN = re.compile(r"""[^\s"'`,;&()\[\]{}]+""")
_CODE_REFERENCE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")  # password = config.db.password


def _value_span(text: str, match: re.Match[str]) -> tuple[int, int, str] | None:
    """Where the value assigned by `match` is (start, end, its quote), or None when it is not a literal."""
    position = match.end()
    first = text[position : position + 1]
    if first in ('"', "'"):
        quoted = (_DOUBLE_QUOTED if first == '"' else _SINGLE_QUOTED).match(text, position)
        return (quoted.start(1), quoted.end(1), first) if quoted else None
    line_start = match.start()  # back over the indentation and list dashes only: a long line costs nothing
    while line_start > 0 and text[line_start - 1] in " \t-":
        line_start -= 1
    yaml_line = ":" in match.group("sep") and (line_start == 0 or text[line_start - 1] == "\n")
    if yaml_line:  # the key starts its line: the value is the rest of it, or the block below
        line_end = text.find("\n", position)
        line_end = len(text) if line_end < 0 else line_end
        if _BLOCK_INDICATOR.match(text, position):
            return _block_span(text, line_end, match.start() - line_start)
        if not first or first in "{[*&!|>#":  # a mapping, a list, an alias, a tag: not a literal
            return None
        value = re.split(r"[ \t]#", text[position:line_end], maxsplit=1)[0].rstrip()
        return (position, position + len(value), "") if value else None
    token = _TOKEN.match(text, position)
    if token is None or text[token.end() : token.end() + 1] in ("(", "["):  # a call: password = getpass()
        return None
    value = token.group(0)
    if _CODE_REFERENCE.fullmatch(value) and "=" in match.group("sep"):
        return None
    if ":" in match.group("sep") and _is_prose_word(value):  # "password: required" in a sentence
        return None
    return position, token.end(), ""


def _block_span(text: str, line_end: int, key_column: int) -> tuple[int, int, str] | None:
    """The lines of a `key: |` block: those indented deeper than the key, blank lines inside included."""
    start = end = None
    cursor = line_end + 1
    while cursor <= len(text):
        next_end = text.find("\n", cursor)
        next_end = len(text) if next_end < 0 else next_end
        line = text[cursor:next_end]
        if line.strip():
            indent = len(line) - len(line.lstrip(" \t"))
            if indent <= key_column:
                break
            start = cursor + indent if start is None else start
            end = next_end
        if next_end >= len(text):
            break
        cursor = next_end + 1
    return (start, end, "") if start is not None and end is not None else None


def _assignments(text: str, emit: Emit) -> str:
    out: list[str] = []
    cursor = 0
    for match in _ASSIGNMENT.finditer(text):
        name = match.group("name")
        if match.start() < cursor or not is_secret_key(name, identities=True):
            continue
        span = _value_span(text, match)
        if span is None:
            continue
        start, end, quote = span
        raw = text[start:end]
        if not raw.strip() or _has_placeholder(raw) or is_placeholder(raw):
            continue
        out += [text[cursor:start], emit(_found(text, start, raw, quote, f"a literal value for `{name}`"))]
        cursor = end
    return "".join(out) + text[cursor:]


# Prose: "the password is hunter2", "pwd is X", "password hunter2", "the password for bob: s3cret".
_PROSE = re.compile(
    r"""(?i)\b(?P<name>passw(?:or)?d|pwd|passphrase|passcode|secret|token"""
    r"""|api[ _-]?key|access[ _-]?key|secret[ _-]?key)"""
    r"""(?P<whose>[ \t]+(?:for|of)[ \t]+[^\s,.;:]+(?:[ \t]+[^\s,.;:]+)?)?"""
    r"""(?P<sep>[ \t]+(?:is|was|are|=|:)[ \t]+|[ \t]*[:=][ \t]*|[ \t]+(?:to|as)[ \t]+|[ \t]+)"""
    r"""(?P<value>"[^"\n]+"|'[^'\n]+'|`[^`\n]+`|[^\s"'`]+)"""
)


def _prose(text: str, emit: Emit) -> str:
    def replace(match: re.Match[str]) -> str:
        value = match.group("value")
        start, end = match.span("value")
        if value[0] in "\"'`":
            value, start, end = value[1:-1], start + 1, end - 1
        else:
            stripped = value.rstrip(".,;:!?)")
            end -= len(value) - len(stripped)
            value = stripped
        if not value or _has_placeholder(value) or is_placeholder(value):
            return match.group(0)
        sep = match.group("sep").strip().lower()
        if sep in (":", "=") and not match.group("whose"):  # `password: x` is an assignment: decided there
            return match.group(0)
        if sep in ("is", "was", "are", "=", ":"):
            if _is_prose_word(value) or (value.isalpha() and len(value) < 3):
                return match.group(0)
        elif match.group("whose") or not _looks_made_up(value):  # "password hunter2", not "API key for X v2"
            return match.group(0)
        quote = _quoted_at(text, start, end)
        found = _found(text, start, value, quote if quote != "`" else "", "a password in a sentence")
        whole, offset = match.group(0), match.start()
        return whole[: start - offset] + emit(found) + whole[end - offset :]

    return _PROSE.sub(replace, text)


def _pem(text: str, emit: Emit) -> str:
    """Each BEGIN header is followed only up to the next one, so hostile text costs one pass."""
    out: list[str] = []
    cursor = 0
    begins = list(_PEM_BEGIN.finditer(text))
    for index, begin in enumerate(begins):
        if begin.start() < cursor:
            continue
        limit = min(begins[index + 1].start() if index + 1 < len(begins) else len(text), begin.end() + _PEM_MAX)
        body = _PEM_BODY.match(text, begin.end(), limit)
        end = _PEM_END.search(text, begin.end(), body.end() if body else begin.end())
        lines = None if end else _PEM_LINES.match(text, begin.end(), limit)
        stop = end.end() if end else lines.end() if lines else begin.end()
        value = text[begin.start() : stop]
        if len(re.sub(r"-----[A-Z0-9 ]+-----|\\[nr]|[^A-Za-z0-9+/]", "", value)) < 8:
            continue
        found = _found(text, begin.start(), value, _quoted_at(text, begin.start(), stop), "a private key")
        out += [text[cursor : begin.start()], emit(found)]
        cursor = stop
    return "".join(out) + text[cursor:]


_RULES: tuple[Callable[[str, Emit], str], ...] = (
    _pem,
    _tokens,
    lambda text, emit: _replace_groups(text, _URL_USERINFO, emit, lambda m: "a connection URL with a password"),
    _authorization,
    _command_lines,
    _assignments,
    _prose,
)
_SERVICE_ACCOUNT = re.compile(r'"type"\s*:\s*"service_account"')


def find_secrets(text: str) -> list[str]:
    """What credentials `text` holds, as the lint names them ("a private key", "a literal value for `pwd`")."""
    kinds: list[str] = []

    def note(found: _Found) -> str:
        kinds.append(found.kind)
        return "REDACTED_0" + _mark(0)

    for rule in _RULES:
        text = rule(text, note)
    return kinds


def looks_like_secret_value(value: str) -> str | None:
    """What kind of credential `value` contains, if it contains one."""
    if _SERVICE_ACCOUNT.search(value):
        return "a Google service-account key"
    found = find_secrets(value)
    return found[0] if found else None


# --- the vault ------------------------------------------------------------------------------------------------
@dataclass
class _Secret:
    value: str  # the credential itself (unquoted, unescaped, a block's lines without their indentation)
    places: dict[str, tuple[str, str]] = field(default_factory=dict)  # anchor -> (raw as written there, quote)


def _decode(raw: str, quote: str) -> str:
    if quote == "'":
        return raw.replace("''", "'")
    if quote == '"' and "\\" in raw:  # only escapes make a double-quoted value differ from its text
        try:
            loaded = yaml.safe_load(f'"{raw}"')
        except yaml.YAMLError:
            return raw
        return loaded if isinstance(loaded, str) else raw
    return raw


def _encode(value: str, quote: str) -> str:
    if quote == '"':
        return json.dumps(value, ensure_ascii=False)[1:-1]
    if quote == "'":
        return value.replace("'", "''")
    return value


def _dedent(raw: str, indent: str) -> str:
    first, *rest = raw.split("\n")
    return "\n".join([first, *(line[len(indent) :] if line.startswith(indent) else line for line in rest)])


def _reindent(raw: str, indent: str) -> str:
    first, *rest = raw.split("\n")
    return "\n".join([first, *(indent + line if line else line for line in rest)])


_KEY_BEFORE = re.compile(r"""[ \t]*(?:-[ \t]+)*(?P<q>["']?)(?P<name>[\w.-]+)(?P=q)[ \t]*:[ \t]*(?P<open>["']?)""")
_KEY_AFTER = re.compile(r"""(?P<close>["']?)[ \t]*,?[ \t]*(?:#.*)?""")
_BLOCK_KEY = re.compile(
    r"""[ \t]*(?:-[ \t]+)*(?P<q>["']?)(?P<name>[\w.-]+)(?P=q)[ \t]*:[ \t]*[|>][-+0-9]*[ \t]*(?:#.*)?"""
)


@dataclass(frozen=True)
class _Place:
    anchor: str  # "key:<name>" (the whole value of that key), or "line:<the line, blanks squeezed>"
    context: str  # "quoted" (quotes around it), "plain" (after `key:`), "block" (alone under `key: |`), "line"
    quote: str = ""  # the quotes around it, when quoted
    column: int = 0  # where the key starts, for a value that is a key's


_KNOWN_VALUES = 256  # how many known values `redact` looks for anywhere in the text
_LONG_LINE = 2000  # a line longer than this is anchored by the text around the placeholder, not whole


def _place(text: str, start: int, end: int) -> _Place:
    """Where the placeholder text[start:end] stands: the key it is the whole value of, or else its line."""
    before_newline = text.rfind("\n", max(0, start - _LONG_LINE), start)
    after_newline = text.find("\n", end, end + _LONG_LINE)
    line_start = before_newline + 1 if before_newline >= 0 or start <= _LONG_LINE else None
    line_end = after_newline if after_newline >= 0 else len(text) if len(text) - end <= _LONG_LINE else None
    if line_start is None or line_end is None:  # a very long line: the words around it (costs no scan of it)
        low = max(0, start - 200) if line_start is None else max(line_start, start - 200)
        high = end + 200 if line_end is None else min(line_end, end + 200)
        return _Place("near:" + " ".join(text[low:high].split()), "line")
    before, after = text[line_start:start], text[end:line_end]
    key, tail = _KEY_BEFORE.fullmatch(before), _KEY_AFTER.fullmatch(after)
    if key and tail and key.group("open") == tail.group("close"):
        quote = key.group("open")
        name = "_".join(_words(key.group("name")))
        return _Place(f"key:{name}", "quoted" if quote else "plain", quote, key.start("q"))
    if not before.strip() and not after.strip():  # alone on its line: the content of a `key: |` block?
        cursor = line_start - 1  # the end of the line above
        while cursor > 0:
            above = text.rfind("\n", 0, cursor) + 1
            line = text[above:cursor]
            if line.strip():
                block = _BLOCK_KEY.fullmatch(line)
                if block and len(line) - len(line.lstrip(" \t")) < len(before):
                    return _Place("key:" + "_".join(_words(block.group("name"))), "block")
                break
            cursor = above - 1
    return _Place("line:" + " ".join(text[line_start:line_end].split()), "line")


class SecretVault:
    """The credentials of one conversation, in memory only: `redact` replaces them with numbered
    placeholders (the same value always gets the same one), `restore` puts them back where they were.

    Use `redact` on anything that goes to a model: requests, flows, retrieved chunks, Kestra logs, the
    model's own earlier replies. Once the vault knows a value, it is redacted wherever it shows up again."""

    def __init__(self) -> None:
        self._secrets: dict[int, _Secret] = {}
        self._numbers: dict[str, int] = {}  # value -> its placeholder's number
        self._taken: set[int] = set()  # numbers of placeholders seen in text that this vault did not issue
        self._highest = 0  # the highest number issued or taken: the next one issued is above it
        # The known values as one pattern (None when it must be made again; False when there are none).
        self._known: re.Pattern[str] | bool | None = None

    def __len__(self) -> int:
        return len(self._secrets)

    def reserve(self, text: str) -> None:
        """Placeholders already in `text` (a stored session's flows, a model's invention) that this vault did
        not issue keep their meaning: their numbers are never issued."""
        for match in PLACEHOLDER_PATTERN.finditer(text):
            self._take(int(match.group(1)))

    def _take(self, number: int) -> None:
        if number not in self._secrets:
            self._taken.add(number)
            self._highest = max(self._highest, number)

    def redact(self, text: str) -> tuple[str, int]:
        """`text` with every credential replaced by its placeholder, and how many were replaced."""
        text = re.sub(_MARKS, "", text)
        self.reserve(text)
        issued: list[tuple[int, str, str]] = []  # number, raw as written, quote — in the order issued

        def issue(found: _Found) -> str:
            raw = _dedent(found.raw, found.indent) if "\n" in found.raw else found.raw
            value = _decode(raw, found.quote)
            number = self._numbers.get(value)
            if number is None:
                number = self._highest = self._highest + 1
                self._numbers[value] = number
                self._secrets[number] = _Secret(value)
                self._known = None
            issued.append((number, raw, found.quote))
            return f"REDACTED_{number}{_mark(len(issued) - 1)}"

        for rule in _RULES:
            text = rule(text, issue)
        text = self._known_values(text, issue)
        return self._settle(text, issued), len(issued)

    def _known_values(self, text: str, issue: Emit) -> str:
        """Values the vault already knows, wherever they appear (a log quoting the password, an echo)."""
        if self._known is None:
            # Only values that cannot be ordinary words (`redis` as a password must not turn every `redis` into
            # one), and the first ones the conversation met (the user's request and flow come first): a flood
            # of fake passwords in a log must not make every later redaction slow.
            values = [v for v in self._numbers if _looks_made_up(v) and "\n" not in v][:_KNOWN_VALUES]
            alternatives = "|".join(map(re.escape, sorted(values, key=len, reverse=True)))
            self._known = re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])") if values else False
        if not isinstance(self._known, re.Pattern):
            return text
        return self._known.sub(lambda m: issue(_Found(m.group(0), "", "a known credential", "")), text)

    def _settle(self, text: str, issued: list[tuple[int, str, str]]) -> str:
        """Drop the marks, remembering where each placeholder issued by this call stands (its anchor)."""
        out: list[str] = []
        spots: list[tuple[int, int, int]] = []  # index in `issued`, start, end in the settled text
        cursor = length = 0
        for match in _ISSUED.finditer(text):
            piece = text[cursor : match.start(2)]
            out.append(piece)
            length += len(piece)
            spots.append(((ord(match.group(2)) - 0xF0000) % len(issued), length - len(match.group(0)) + 1, length))
            cursor = match.end()
        settled = "".join(out) + text[cursor:]
        for index, start, end in spots:
            number, raw, quote = issued[index]
            self._secrets[number].places.setdefault(_place(settled, start, end).anchor, (raw, quote))
        return settled

    def restore(self, text: str) -> str:
        """`text` (the model's flow) with each placeholder this vault issued put back where the user had the
        value: as the whole value of a key of the same name, or on the same line as it was. Every other
        placeholder stays as it is."""

        def put_back(match: re.Match[str]) -> str:
            number = int(match.group(1))
            secret = self._secrets.get(number)
            if secret is None:
                self._take(number)
                return match.group(0)
            place = _place(text, match.start(), match.end())
            if place.anchor not in secret.places:
                return match.group(0)
            raw, quote = secret.places[place.anchor]
            indent = _indent_at(text, match.start()) if "\n" in raw or "\n" in secret.value else ""
            if place.context == "quoted":
                return raw if quote == place.quote else _encode(secret.value, place.quote)
            if place.context == "plain":
                if "\n" in secret.value:  # a block the model wrote as `key: REDACTED_1`: a block again
                    inner = " " * (place.column + 2)
                    return "|\n" + inner + _reindent(secret.value, inner)
                return f"{quote}{raw}{quote}" if quote else raw
            return _reindent(secret.value if quote else raw, indent)

        return PLACEHOLDER_PATTERN.sub(put_back, text)


def redact_secrets(text: str) -> tuple[str, int]:
    """`text` with credentials replaced by `REDACTED_1`, `REDACTED_2` … and how many were replaced: a one-off
    `SecretVault`. Run on everything that is stored; a conversation uses one vault for all its text."""
    return SecretVault().redact(text)

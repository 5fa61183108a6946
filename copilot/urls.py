"""The URLs of the servers the project talks to (Kestra, a model server, Chroma): checked where they are
read, and never shown with a password in them.

A URL may carry credentials (`http://admin:PW@host:8080`). `split_userinfo` takes them out so a client
keeps a clean URL for its requests, messages and links; `display_url` masks them wherever a URL must be
shown as it was given (a malformed one included); `same_origin` decides where configured credentials may go.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

from .errors import ConfigError

__all__ = ["check_url", "display_url", "origin", "same_origin", "split_userinfo", "transport_failure"]

# Everything between `scheme://` and the last `@`: the userinfo, however malformed the rest is.
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)(.*)@", re.DOTALL)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A host (a name, an IPv4 address or a bracketed IPv6 one) and an optional port: what urlsplit lets
# through but httpx or DNS would refuse (`[::1]x`, `exa$mple.com`) fails here, with the setting's name.
_HOSTPORT = re.compile(r"(\[[0-9A-Fa-f:.]+(%[^\]]+)?\]|[\w.-]+)(:\d{1,5})?")
# urllib's words for what it cannot parse → the user's.
_WORDING = {
    "Invalid IPv6 URL": "an IPv6 address goes in closed brackets, as in http://[::1]:8080",
    "Port could not be cast to integer value as '…'": "the port is not a number",
    "Port out of range 0-65535": "the port is not between 1 and 65535",
}


# Without a well-formed `scheme://` (`admin:PW@host`, `https//admin:PW@host`): whatever precedes the last `@`.
_LOOSE_USERINFO = re.compile(r"^((?:[^/@]*/+)?)([^@]*)@", re.DOTALL)


def display_url(url: str) -> str:
    """`http://admin:PW@host` → `http://admin:****@host`; a user alone may be a token: `https://****@host`.
    A URL with no or a misspelt scheme is masked the same way: what stands before its `@` may be a password."""
    match = _USERINFO.match(url) or _LOOSE_USERINFO.match(url)
    if not match:
        return url
    user, colon, _ = match.group(2).partition(":")
    shown = f"{user}:****" if colon else "****"
    return f"{match.group(1)}{shown}@{url[match.end() :]}"


def check_url(value: str, setting: str, example: str) -> str:
    """`value` without surrounding blanks or a trailing slash, or a ConfigError that names `setting`
    (e.g. "KESTRA_URL") and shows what a good value looks like."""
    text = value.strip()
    why = _problem(text)
    if why:
        hint = f"A good value looks like {example}."
        if "@" in text:
            hint += " A password with / ? # @ or : in it must be percent-encoded (%2F %3F %23 %40 %3A)."
        raise ConfigError(f"{setting} is not a valid URL ({why}): {display_url(text)!r}.", hint=hint)
    return text.rstrip("/")


def _problem(text: str) -> str | None:
    if not text:
        return "it is empty"
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return "it contains a space or a control character"
    try:
        parts = urlsplit(text)
        port = parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError as exc:
        return _WORDING.get(re.sub(r"'.*'", "'…'", str(exc)), str(exc))
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        return "it must start with http:// or https://"
    if not parts.hostname:
        return "it has no host name"
    if port == 0:
        return "the port cannot be 0"
    if not _HOSTPORT.fullmatch(parts.netloc.rpartition("@")[2]):
        return "the host name is not valid"
    return None


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """(the URL without its userinfo, user, password), percent-decoded; (url, None, None) without one."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url, None, None
    user, colon, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    if not colon and ":" in unquote(user):  # `admin%3APW`: a Basic user name cannot hold a colon (RFC 7617)
        user, colon, password = unquote(user).partition(":")
        return clean, user, password
    return clean, unquote(user), unquote(password) if colon else None


def origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) with the scheme's default port filled in; None for a URL that has none."""
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    return (scheme, host, port) if host and port else None


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs share scheme, host and port (`localhost` and `127.0.0.1` do not)."""
    first = origin(a)
    return first is not None and first == origin(b)


def transport_failure(exc: Exception) -> str:
    """Why a connection failed, in words (`connection refused`, not `[Errno 111]` or `ConnectError`)."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    said = re.sub(r"^\[Errno -?\d+\]\s*", "", str(exc).strip())  # "[Errno 111] Connection refused"
    if isinstance(exc, httpx.ConnectError):
        return said[:1].lower() + said[1:] if said and len(said) < 80 else "the connection failed"
    return "the connection broke off"

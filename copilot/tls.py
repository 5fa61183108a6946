"""TLS for every HTTP client the project opens (Kestra, an OpenAI-compatible model server, a schema URL):
verification is always on, a private CA is trusted the standard ways, and a certificate failure is named
as one instead of "cannot connect".

Trust: the public CAs httpx trusts by default (certifi), or exactly what SSL_CERT_FILE / SSL_CERT_DIR
name when set (as httpx and OpenSSL read them), plus the CAs of an extra PEM bundle (`kestra_ca_bundle`)
on top.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import ConfigError

__all__ = ["TlsFailure", "ssl_context", "tls_failure"]

# OpenSSL's X509_V_ERR_* codes (ssl.SSLCertVerificationError.verify_code) this module words itself.
_UNTRUSTED = {18, 19, 20, 21, 2, 27}  # self-signed leaf or chain, issuer unknown or not trusted
_EXPIRED, _NOT_YET_VALID, _HOSTNAME_MISMATCH = 10, 9, 62


def ssl_context(ca_bundle: str | Path | None = None, environ: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """A verifying client context: the default trust (or SSL_CERT_FILE / SSL_CERT_DIR) plus `ca_bundle`.
    A file these name that is missing or holds no certificate is a ConfigError."""
    environ = os.environ if environ is None else environ
    bundle = str(Path(ca_bundle).expanduser()) if ca_bundle else None
    return _context(environ.get("SSL_CERT_FILE") or None, environ.get("SSL_CERT_DIR") or None, bundle)


@lru_cache(maxsize=8)  # a context is reusable and thread-safe; loading a bundle takes a few ms each time
def _context(cert_file: str | None, cert_dir: str | None, bundle: str | None) -> ssl.SSLContext:
    if cert_file:
        context = _trusting(None, cert_file, "SSL_CERT_FILE")
    elif cert_dir:
        if not Path(cert_dir).is_dir():
            raise ConfigError(
                f"SSL_CERT_DIR points at {cert_dir}, which is not a folder.",
                hint="Point it at a folder of hashed CA certificates (openssl rehash), or unset it.",
            )
        context = ssl.create_default_context(capath=cert_dir)
    else:
        import certifi  # what httpx trusts by default

        context = ssl.create_default_context(cafile=certifi.where())
    return _trusting(context, bundle, "kestra_ca_bundle (KESTRA_CA_BUNDLE)") if bundle else context


def _trusting(context: ssl.SSLContext | None, path: str, setting: str) -> ssl.SSLContext:
    """`context` (or a new default one) that also trusts the CAs in the PEM file `path`."""
    try:
        if context is None:
            return ssl.create_default_context(cafile=path)
        context.load_verify_locations(cafile=path)
        return context
    except FileNotFoundError:
        problem = "which does not exist"
    except IsADirectoryError:
        problem = "which is a folder, not a file"
    except ssl.SSLError:
        problem = "which holds no PEM certificate"
    except OSError as exc:
        problem = f"which cannot be read ({exc.strerror or exc})"
    raise ConfigError(
        f"{setting} points at {path}, {problem}.",
        hint="Give the path of a PEM file with the CA certificate(s) to trust (-----BEGIN CERTIFICATE-----).",
    )


@dataclass(frozen=True)
class TlsFailure:
    reason: str  # "its TLS certificate is not trusted here (self-signed certificate)"
    hint: str


def tls_failure(exc: BaseException, *, ca_setting: str | None = None) -> TlsFailure | None:
    """What went wrong, when `exc` (an httpx.ConnectError, say) was caused by TLS; None otherwise.
    `ca_setting` names the setting that adds a private CA for this server (e.g. KESTRA_CA_BUNDLE)."""
    cause = _ssl_cause(exc)
    if cause is None:
        return None
    trust = (f"set {ca_setting} to its PEM file, or " if ca_setting else "set ") + (
        "SSL_CERT_FILE to a PEM bundle that includes it" + ("" if ca_setting else " (with the public CAs you need)")
    )
    if isinstance(cause, ssl.SSLCertVerificationError):
        code = cause.verify_code
        said = (cause.verify_message or cause.reason or "verification failed").rstrip(".")
        if code == _HOSTNAME_MISMATCH:
            return TlsFailure(
                f"its TLS certificate is not issued for this host name ({said})",
                "Use the host name the certificate names in the URL, or have the certificate reissued.",
            )
        if code in (_EXPIRED, _NOT_YET_VALID):
            return TlsFailure(
                f"its TLS certificate is outside its validity dates ({said})",
                "Renew the server's certificate, or check this machine's clock.",
            )
        what = "its issuer is not trusted here" if code in _UNTRUSTED else "it failed verification"
        return TlsFailure(
            f"its TLS certificate is rejected: {what} ({said})",
            f"If the server uses a private or self-signed CA, {trust}. Verification is never turned off.",
        )
    return TlsFailure(
        f"the TLS handshake failed ({cause.reason or cause})",
        "Check the URL's scheme: https:// for a server that speaks TLS, http:// for one that does not.",
    )


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    """The ssl error under an httpx/httpcore error, following __cause__ and __context__."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None

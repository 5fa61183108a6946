"""Credentials on the wire: a password in a URL is never shown, the configured Kestra credentials go only
to the configured server's origin (never to another URL, never along a redirect), a malformed URL is a
clear error and no traceback, and TLS stays verified while a private CA can be trusted the standard ways.

Threats, one group each:
- a password inside KESTRA_URL (or the model's URL) printed by `config show`, an error, a link, the TUI
- a malformed URL in the settings ending in a traceback instead of saying which setting is wrong
- `validate --server URL` or a redirect carrying the configured credentials to another server
- a certificate failure read as "is the server running?", and no way to trust a private CA but turning
  verification off
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import json
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from copilot.cli import main
from copilot.config import Settings, load_settings
from copilot.kestra import KestraClient, ui_link
from copilot.llm.base import Message, ModelUnavailable
from copilot.llm.openai_compat import OpenAICompatModel
from copilot.llm.retry import RetryPolicy
from copilot.schema_store import load_schema
from tests.conftest import shared_path
from tests.fakes.kestra import FakeKestra
from tests.fakes.loopback import LoopbackServer, QuietHandler

FLOW = "id: hello\nnamespace: company.team\ntasks:\n  - id: say\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
PASSWORD = "S3cret-Pw-Canary"


@pytest.fixture(autouse=True)
def _no_ambient_trust(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own SSL_CERT_FILE / SSL_CERT_DIR must not decide these tests."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.fixture()
def flow(tmp_path: Path) -> Path:
    path = tmp_path / "hello.yml"
    path.write_text(FLOW)
    return path


def with_password(url: str, user: str = "admin@kestra.io", password: str = PASSWORD) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{rest}"


def authorizations(fake: FakeKestra) -> list[str | None]:
    return [exchange["authorization"] for exchange in fake.exchanges]


# --- a password inside a URL is used, never shown ------------------------------------------------------
def test_config_show_prints_no_password_of_any_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KESTRA_URL", f"http://admin:{PASSWORD}@kestra.example.com:8080")
    monkeypatch.setenv("KESTRA_COPILOT_MODEL_URL", f"https://bob:{PASSWORD}@models.example.com/v1")
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    assert PASSWORD not in out
    assert "kestra_url = http://kestra.example.com:8080\n" in out and "kestra_username = admin\n" in out
    assert "model_url = https://bob:****@models.example.com/v1\n" in out


def test_an_encoded_colon_in_the_user_name_still_splits_off_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KESTRA_URL", f"http://admin%3A{PASSWORD}@kestra.example.com:8080")
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    assert PASSWORD not in out and "kestra_username = admin\n" in out


def test_a_url_password_is_the_basic_credentials_unless_others_are_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KESTRA_URL", with_password("http://kestra:8080/", password="p@ss:w/rd"))
    settings = load_settings()
    assert settings.kestra_url == "http://kestra:8080"
    assert (settings.kestra_username, settings.kestra_password) == ("admin@kestra.io", "p@ss:w/rd")
    monkeypatch.setenv("KESTRA_USERNAME", "explicit")
    monkeypatch.setenv("KESTRA_PASSWORD", "explicit-pw")
    settings = load_settings()  # the explicit settings win; the URL stays clean all the same
    assert (settings.kestra_url, settings.kestra_username, settings.kestra_password) == (
        "http://kestra:8080",
        "explicit",
        "explicit-pw",
    )


def test_deploy_authenticates_with_the_url_password_and_prints_no_password(
    flow: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeKestra(password=PASSWORD) as fake:
        monkeypatch.setenv("KESTRA_URL", with_password(fake.url))
        assert main(["deploy", str(flow), "--yes"]) == 0
        assert ("company.team", "hello") in fake.flows
    out, err = capsys.readouterr()
    assert PASSWORD not in out + err
    assert f"— {fake.url}/ui/main/flows/edit/company.team/hello" in out  # the UI link, without userinfo


def test_a_connection_error_prints_no_password(
    flow: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeKestra() as fake:
        gone = fake.url  # closed once the block ends: nothing listens there
    monkeypatch.setenv("KESTRA_URL", with_password(gone))
    assert main(["deploy", str(flow), "--yes"]) == 2
    assert main(["validate", str(flow), "--server"]) == 0  # the offline verdict, with a warning
    err = capsys.readouterr().err
    assert f"Cannot reach Kestra at {gone}" in err and PASSWORD not in err


def test_a_client_given_a_url_with_a_password_keeps_it_out_of_its_url_and_links() -> None:
    """Settings built in code (not read from the environment) and `--server URL` reach the client as
    they are: the client itself keeps the URL clean for requests, messages, links and indexed sources."""
    client = KestraClient(f"http://admin:{PASSWORD}@127.0.0.1:8080/")
    assert client.url == "http://127.0.0.1:8080"
    assert PASSWORD not in ui_link(client, "company.team", "hello")


def the_tui_on(settings: Settings, until_status: str) -> tuple[str, list[str], tuple[str, ...]]:
    """The TUI started on `settings` (no engine: its status bar is what is tested) until the status bar
    says `until_status`: (the status bar, the chat's messages, the server status it started with)."""
    from copilot.tui.app import CopilotApp
    from tests.tui.pilot import messages, status, until

    app = CopilotApp(settings)
    app.load_engine = lambda: None  # type: ignore[method-assign]
    first = app.server_status

    async def scenario() -> tuple[str, list[str], tuple[str, ...]]:
        async with app.run_test(size=(160, 40)) as pilot:
            await until(pilot, lambda: until_status in status(app), until_status)
            return status(app), messages(app), first

    return asyncio.run(scenario())


def test_the_tui_status_bar_shows_no_password(tmp_path: Path) -> None:
    with FakeKestra(password=PASSWORD) as fake:
        url = with_password(fake.url)  # built in code: no load_settings to clean it first
        shown = the_tui_on(Settings(kestra_url=url, data_dir=tmp_path / "d", cache_dir=tmp_path / "c"), "1.3.2")
    assert PASSWORD not in repr(shown)
    assert fake.exchanges and all(authorizations(fake))  # it did authenticate, with the URL's credentials


# --- a malformed URL says which setting is wrong, and no command ends in a traceback ----------------
MALFORMED = [
    "http://[::1",
    "http://kestra:notaport",
    "http://kes tra:8080",
    f"http://admin:{PASSWORD}@kestra:port",
    f"admin:{PASSWORD}@kestra:8080",  # no scheme: what stands before the @ is still a password
    f"https//admin:{PASSWORD}@kestra",  # a misspelt scheme
]


@pytest.mark.parametrize("url", MALFORMED)
@pytest.mark.parametrize("command", [["config", "show"], ["validate", "FLOW", "--server"], ["deploy", "FLOW", "--yes"]])
def test_a_malformed_kestra_url_is_a_config_error_naming_the_setting(
    url: str,
    command: list[str],
    flow: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KESTRA_URL", url)
    assert main([str(flow) if part == "FLOW" else part for part in command]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kestra-copilot: KESTRA_URL is not a valid URL (")
    assert "hint: A good value looks like http://localhost:8080" in err and PASSWORD not in err


def test_a_malformed_url_in_the_config_file_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('model_url = "localhost:11434/v1"\n')
    monkeypatch.setenv("KESTRA_COPILOT_CONFIG", str(config))
    assert main(["config", "show"]) == 2
    err = capsys.readouterr().err
    assert f"model_url in {config} is not a valid URL (it must start with http:// or https://)" in err


def test_a_malformed_server_url_on_the_command_line_is_a_config_error(
    flow: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(flow), "--server", "http://[::1"]) == 2
    assert "The Kestra URL is not a valid URL (an IPv6 address goes in closed brackets" in capsys.readouterr().err


def test_the_tui_server_check_survives_a_malformed_url(tmp_path: Path) -> None:
    settings = Settings(kestra_url="http://[::1", data_dir=tmp_path / "d", cache_dir=tmp_path / "c")
    _, said, _ = the_tui_on(settings, "Kestra unreachable")
    assert any("not a valid URL" in message for message in said)


def test_chroma_url_credentials_are_refused_not_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing sends them to Chroma, so a user:password there would only be shown (`index status`)."""
    monkeypatch.setenv("KESTRA_COPILOT_CHROMA_URL", f"http://admin:{PASSWORD}@localhost:8000")
    assert main(["config", "show"]) == 2
    err = capsys.readouterr().err
    assert "KESTRA_COPILOT_CHROMA_URL carries credentials" in err and PASSWORD not in err


# --- the configured credentials go only to the configured server's origin -------------------------------
@pytest.mark.parametrize("kind", ["basic", "token"])
def test_validate_server_sends_no_configured_credentials_to_another_url(
    kind: str, flow: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeKestra(api_token="configured-token") as configured, FakeKestra() as other:
        monkeypatch.setenv("KESTRA_URL", configured.url)
        if kind == "basic":
            monkeypatch.setenv("KESTRA_USERNAME", configured.username)
            monkeypatch.setenv("KESTRA_PASSWORD", configured.password)
        else:
            monkeypatch.setenv("KESTRA_API_TOKEN", "configured-token")
        assert main(["validate", str(flow), "--server", other.url]) == 0  # offline verdict: it answered 401
    err = capsys.readouterr().err
    assert other.exchanges and authorizations(other) == [None] * len(other.exchanges)
    assert not configured.exchanges
    assert f"Kestra at {other.url} needs credentials (401) to read the server version" in err
    assert f"were not sent to {other.url}: they go only to {configured.url}" in err


def test_another_url_gets_only_its_own_userinfo_and_a_note_says_so(
    flow: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeKestra(username="admin", password=PASSWORD) as configured, FakeKestra() as other:
        monkeypatch.setenv("KESTRA_URL", configured.url)
        monkeypatch.setenv("KESTRA_USERNAME", "admin")
        monkeypatch.setenv("KESTRA_PASSWORD", PASSWORD)
        assert main(["validate", str(flow), "--server", with_password(other.url, other.username, other.password)]) == 0
    out, err = capsys.readouterr()
    assert f"Kestra 1.3.2 at {other.url}" in out  # it answered, with the credentials its own URL carries
    assert f"note: The configured Kestra credentials were not sent to {other.url}" in err
    own = "Basic " + base64.b64encode(f"{other.username}:{other.password}".encode()).decode()
    assert other.exchanges and authorizations(other) == [own] * len(other.exchanges)
    assert PASSWORD not in out + err and other.password not in out + err


def test_validate_server_with_the_configured_origin_authenticates(
    flow: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeKestra() as configured:
        monkeypatch.setenv("KESTRA_URL", configured.url)
        monkeypatch.setenv("KESTRA_USERNAME", configured.username)
        monkeypatch.setenv("KESTRA_PASSWORD", configured.password)
        assert main(["validate", str(flow), "--server", configured.url + "/"]) == 0
    out, err = capsys.readouterr()
    assert f"Kestra 1.3.2 at {configured.url}" in out and "not sent" not in err
    assert all(authorizations(configured))


@pytest.mark.parametrize("kind", ["basic", "token"])
def test_the_configured_servers_own_schema_is_fetched_with_its_credentials_and_no_other(
    kind: str, flow: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`validate --schema $KESTRA_URL/api/v1/plugins/schemas/flow`, the README's example, on a server that
    needs credentials; the same path on another server gets none."""
    schema = json.loads(shared_path("kestra-api", "kestra-flow-schema-sample-libs-copilot.json").read_text())
    with FakeKestra(api_token="configured-token", flow_schema=schema) as configured, FakeKestra() as other:
        monkeypatch.setenv("KESTRA_URL", configured.url)
        if kind == "basic":
            monkeypatch.setenv("KESTRA_USERNAME", configured.username)
            monkeypatch.setenv("KESTRA_PASSWORD", configured.password)
        else:
            monkeypatch.setenv("KESTRA_API_TOKEN", "configured-token")
        assert main(["validate", str(flow), "--schema", f"{configured.url}/api/v1/plugins/schemas/flow"]) == 0
        assert configured.exchanges and all(authorizations(configured))
        assert main(["validate", str(flow), "--schema", f"{other.url}/api/v1/plugins/schemas/flow"]) == 2
    assert other.exchanges and authorizations(other) == [None] * len(other.exchanges)
    assert "401" in capsys.readouterr().err


@dataclass
class Redirector:
    url: str
    seen: list[str | None]  # the Authorization header of each request


@contextmanager
def redirecting_to(target: str) -> Iterator[Redirector]:
    """A loopback server that answers every request with a 302 to `target` (a reverse proxy gone wrong)."""
    redirector = Redirector("", [])

    class Handler(QuietHandler):
        def _redirect(self) -> None:
            redirector.seen.append(self.headers.get("Authorization"))
            self.send_response(302)
            self.send_header("Location", f"{target}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PUT = do_DELETE = _redirect

    with LoopbackServer(Handler) as server:
        redirector.url = server.url
        yield redirector


def test_a_redirect_carries_no_credentials_and_is_reported(
    flow: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = FakeKestra()
    with elsewhere, redirecting_to(with_password(elsewhere.url, "someone", "elsewhere-pw")) as redirector:
        monkeypatch.setenv("KESTRA_URL", redirector.url)
        monkeypatch.setenv("KESTRA_USERNAME", "admin")
        monkeypatch.setenv("KESTRA_PASSWORD", PASSWORD)
        assert main(["deploy", str(flow), "--yes"]) == 2
        assert redirector.seen and all(redirector.seen)  # the configured origin got them: it is the one
    assert not elsewhere.exchanges  # the redirect was not followed
    err = capsys.readouterr().err
    assert f"redirect (302) to {elsewhere.url}/api/v1/configs, which is not followed" in err
    assert PASSWORD not in err and "elsewhere-pw" not in err


# --- TLS: verification stays on; a certificate problem is named; a private CA can be trusted -------------
@dataclass(frozen=True)
class Pki:
    ca_file: Path  # the test CA's certificate (PEM), to trust
    server: ssl.SSLContext  # a server context whose certificate (for 127.0.0.1) that CA signed


def make_pki(folder: Path, *, expired: bool = False) -> Pki:
    now = datetime.datetime.now(datetime.UTC)
    day = datetime.timedelta(days=1)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("kestra-copilot test CA"))
        .issuer_name(name("kestra-copilot test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - 30 * day)
        .not_valid_after(now + 30 * day)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - (20 if expired else 1) * day)
        .not_valid_after(now - day if expired else now + 30 * day)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    return Pki(ca_file, server)


@pytest.fixture()
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


def _kestra_env(monkeypatch: pytest.MonkeyPatch, fake: FakeKestra, url: str | None = None) -> None:
    monkeypatch.setenv("KESTRA_URL", url or fake.url)
    monkeypatch.setenv("KESTRA_USERNAME", fake.username)
    monkeypatch.setenv("KESTRA_PASSWORD", fake.password)


def test_an_untrusted_certificate_is_named_with_how_to_trust_a_private_ca(
    pki: Pki, flow: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeKestra(tls=pki.server) as fake:
        _kestra_env(monkeypatch, fake)
        assert main(["deploy", str(flow), "--yes"]) == 2
        assert not fake.flows and not fake.exchanges  # the handshake failed: not one request was made
    err = capsys.readouterr().err
    assert f"Kestra at {fake.url} answered, but its TLS certificate is rejected: its issuer is not trusted" in err
    assert "KESTRA_CA_BUNDLE" in err and "SSL_CERT_FILE" in err and "running?" not in err


@pytest.mark.parametrize("how", ["KESTRA_CA_BUNDLE", "SSL_CERT_FILE", "config file"])
def test_a_private_ca_is_trusted_by_the_ca_bundle_or_ssl_cert_file(
    how: str, pki: Pki, flow: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SSL_CERT_FILE already worked through httpx: kept working now that the project builds the context."""
    if how == "config file":
        config = tmp_path / "config.toml"
        config.write_text(f'[kestra]\nca_bundle = "{pki.ca_file}"\n')
        monkeypatch.setenv("KESTRA_COPILOT_CONFIG", str(config))
    else:
        monkeypatch.setenv(how, str(pki.ca_file))
    with FakeKestra(tls=pki.server) as fake:
        _kestra_env(monkeypatch, fake)
        assert main(["deploy", str(flow), "--yes"]) == 0
        assert ("company.team", "hello") in fake.flows


def test_a_host_name_the_certificate_does_not_name_is_said(
    pki: Pki, flow: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KESTRA_CA_BUNDLE", str(pki.ca_file))
    with FakeKestra(tls=pki.server) as fake:
        _kestra_env(monkeypatch, fake, fake.url.replace("127.0.0.1", "localhost"))
        assert main(["deploy", str(flow), "--yes"]) == 2
    assert "its TLS certificate is not issued for this host name" in capsys.readouterr().err


def test_an_expired_certificate_is_said(
    tmp_path: Path, flow: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    expired = make_pki(tmp_path, expired=True)
    monkeypatch.setenv("KESTRA_CA_BUNDLE", str(expired.ca_file))
    with FakeKestra(tls=expired.server) as fake:
        _kestra_env(monkeypatch, fake)
        assert main(["deploy", str(flow), "--yes"]) == 2
    err = capsys.readouterr().err
    assert "its TLS certificate is outside its validity dates (certificate has expired)" in err


@pytest.mark.parametrize(
    ("variable", "said"),
    [
        ("KESTRA_CA_BUNDLE", "KESTRA_CA_BUNDLE points at"),
        ("SSL_CERT_FILE", "SSL_CERT_FILE points at"),
    ],
)
def test_a_missing_ca_file_is_a_config_error(
    variable: str,
    said: str,
    tmp_path: Path,
    flow: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KESTRA_URL", "https://127.0.0.1:9")
    monkeypatch.setenv(variable, str(tmp_path / "missing.pem"))
    assert main(["deploy", str(flow), "--yes"]) == 2
    err = capsys.readouterr().err
    assert said in err and "missing.pem" in err and "hint: " in err


def test_a_plain_http_server_behind_https_says_it_is_a_tls_problem(
    flow: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeKestra() as fake:
        _kestra_env(monkeypatch, fake, fake.url.replace("http://", "https://"))
        assert main(["deploy", str(flow), "--yes"]) == 2
    err = capsys.readouterr().err
    assert "the TLS handshake failed" in err and "Check the URL's scheme" in err


def test_the_model_server_and_the_schema_url_name_a_certificate_problem_too(pki: Pki, tmp_path: Path) -> None:
    from copilot.flows import SchemaLoadError

    with FakeKestra(tls=pki.server) as fake:
        model = OpenAICompatModel(
            base_url=with_password(fake.url) + "/v1", model="m", retry=RetryPolicy(max_attempts=1)
        )

        async def one_reply() -> None:
            async for _ in model.stream([Message("user", "hi")]):
                pass

        with pytest.raises(ModelUnavailable) as caught:
            asyncio.run(one_reply())
        assert "its TLS certificate is rejected" in str(caught.value) and PASSWORD not in str(caught.value)
        assert "SSL_CERT_FILE" in (caught.value.hint or "")

        schema_url = with_password(fake.url) + "/api/v1/plugins/schemas/flow"
        with pytest.raises(SchemaLoadError) as refused:
            load_schema(schema_url, cache_dir=tmp_path)
        assert "the server's TLS certificate is rejected" in str(refused.value) and PASSWORD not in str(refused.value)


def test_the_tui_says_kestra_refused_the_credentials_rather_than_unreachable(tmp_path: Path) -> None:
    with FakeKestra() as fake:
        settings = Settings(
            kestra_url=fake.url, kestra_username=fake.username, kestra_password="wrong",
            data_dir=tmp_path / "d", cache_dir=tmp_path / "c",
        )  # fmt: skip
        shown, said, _ = the_tui_on(settings, "credentials")
    assert "Kestra refused the credentials" in shown and "unreachable" not in shown
    assert any("KESTRA_PASSWORD" in message for message in said)  # and what to check

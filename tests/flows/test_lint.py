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

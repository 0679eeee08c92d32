from __future__ import annotations

from pathlib import Path

import pytest

from config import Config, ConfigError


def test_defaults_match_the_contract() -> None:
    config = Config.from_env({})
    assert (config.host, config.port, config.database_url) == ("127.0.0.1", 3000, None)
    assert config.data_dir == Path(".data")
    assert config.slack_api_url == "https://slack.com/api/"
    assert config.github_api_url == "https://api.github.com"
    assert config.linear_api_url == "https://api.linear.app/graphql"


def test_empty_variables_count_as_unset() -> None:
    config = Config.from_env({"DATABASE_URL": "", "PORT": " ", "SLACK_BOT_TOKEN": ""})
    assert config.database_url is None and config.port == 3000 and config.slack_bot_token is None


def test_reads_every_variable() -> None:
    env = {
        "HOST": "0.0.0.0",
        "PORT": "8080",
        "DATABASE_URL": "postgresql://u@h/db",
        "DATA_DIR": "/var/sb",
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "SLACK_APP_TOKEN": "xapp-1",
        "SLACK_API_URL": "http://127.0.0.1:9/api",
        "LINEAR_TEAM_KEY": "ENG",
        "JWT_SECRET": "j" * 32,
        "JWT_JWKS_URL": "https://project.supabase.co/auth/v1/.well-known/jwks.json",
        "JWT_AUDIENCE": "authenticated",
        "JWT_MAX_LIFETIME_S": "3600",
    }
    config = Config.from_env(env)
    assert config.port == 8080 and config.data_dir == Path("/var/sb")
    assert config.slack_api_url == "http://127.0.0.1:9/api/", "slack_sdk needs the trailing slash"
    assert config.linear_team_key == "ENG" and config.slack_app_token == "xapp-1"
    assert config.jwt_audience == "authenticated" and config.jwt_max_lifetime_s == 3600
    assert config.jwt_jwks_url == "https://project.supabase.co/auth/v1/.well-known/jwks.json"


def test_token_lifetime_defaults_to_a_day() -> None:
    assert Config.from_env({}).jwt_max_lifetime_s == 24 * 3600
    for bad in ("0", "-5", "²", "1e3", "9" * 50):
        with pytest.raises(ConfigError, match="JWT_MAX_LIFETIME_S"):
            Config.from_env({"JWT_MAX_LIFETIME_S": bad})


def test_a_short_jwt_secret_is_refused_saying_why() -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_env({"JWT_SECRET": "x"})
    assert "JWT_SECRET must be at least 32 bytes" in str(caught.value) and "RFC 7518" in str(caught.value)
    assert Config.from_env({"JWT_SECRET": "é" * 16}).jwt_secret == "é" * 16, "bytes, not characters"


SECRETS = {
    "DATABASE_URL": "postgresql://app:db-password-4f1c@db.example/app",
    "SLACK_BOT_TOKEN": "xoxb-secret-bot-token-77",
    "SLACK_SIGNING_SECRET": "slack-signing-secret-5be3",
    "SLACK_APP_TOKEN": "xapp-secret-app-token-12",
    "SENTRY_CLIENT_SECRET": "sentry-client-secret-9d2e",
    "SENTRY_DSN": "https://publickey-31a8@o1.ingest.sentry.io/1",
    "GITHUB_WEBHOOK_SECRET": "github-webhook-secret-0a7b",
    "GITHUB_TOKEN": "ghp_secretGithubToken0123456789abcd",
    "LINEAR_WEBHOOK_SECRET": "linear-webhook-secret-c4d5",
    "LINEAR_API_KEY": "lin_api_secretLinearKey0123",
    "JWT_SECRET": "jwt-secret-that-is-at-least-32-bytes-long-e6f7",
}


def test_no_secret_in_the_repr_yet_each_is_usable_as_text() -> None:
    config = Config.from_env(SECRETS)
    shown = repr(config) + str(config) + repr(vars(config)) + f"{config!r}"
    for name, value in SECRETS.items():
        assert value not in shown, name
        assert getattr(config, name.lower()) == value and getattr(config, name.lower()).encode() == value.encode()
    assert sorted(config.secrets()) == sorted(SECRETS.values())
    assert all(type(v) is str for v in config.secrets())


def test_secrets_passed_as_plain_strings_are_masked_too() -> None:
    config = Config(jwt_secret="jwt-secret-passed-directly-by-a-test-0123", slack_bot_token="xoxb-direct-1234")
    assert "jwt-secret-passed" not in repr(config) and "xoxb-direct" not in repr(config)
    assert repr(config.jwt_secret) == "Secret('********')"


def test_reports_every_problem_at_once() -> None:
    env = {
        "PORT": "http",
        "DATABASE_URL": "mysql://x",
        "SLACK_BOT_TOKEN": "xoxp-user",
        "SLACK_APP_TOKEN": "xoxb-wrong",
        "GITHUB_API_URL": "ftp://x",
    }
    with pytest.raises(ConfigError) as caught:
        Config.from_env(env)
    message = str(caught.value)
    for name in ("PORT", "DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "GITHUB_API_URL"):
        assert name in message


def test_socket_mode_needs_a_bot_token() -> None:
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        Config.from_env({"SLACK_APP_TOKEN": "xapp-1"})


def test_missing_names_unset_credentials() -> None:
    assert "LINEAR_API_KEY" in Config.from_env({}).missing()
    assert "LINEAR_API_KEY" not in Config.from_env({"LINEAR_API_KEY": "k"}).missing()


def test_rollup_command_refuses_bad_times_with_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    import app

    with pytest.raises(SystemExit) as exited:
        app.main(["rollup", "--from", "yesterday", "--to", "2026-11-20T12:00:00Z"])
    assert exited.value.code == 2 and "not an ISO 8601 time: 'yesterday'" in capsys.readouterr().err
    assert app.main(["rollup", "--from", "2026-11-20T12:00:00Z", "--to", "2026-11-20T09:00:00Z"]) == 2
    assert "must be after --from" in capsys.readouterr().err

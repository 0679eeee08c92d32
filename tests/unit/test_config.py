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
        "JWT_SECRET": "j",
    }
    config = Config.from_env(env)
    assert config.port == 8080 and config.data_dir == Path("/var/sb")
    assert config.slack_api_url == "http://127.0.0.1:9/api/", "slack_sdk needs the trailing slash"
    assert config.linear_team_key == "ENG" and config.slack_app_token == "xapp-1"


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

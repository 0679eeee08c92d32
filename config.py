"""Configuration from the environment: read once at start, validated, immutable."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """Raised with every problem found, one per line, so a person can fix them all at once."""


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 3000
    database_url: str | None = None
    data_dir: Path = Path(".data")
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_approvals_channel: str | None = None
    slack_incidents_channel: str | None = None
    sentry_client_secret: str | None = None
    sentry_dsn: str | None = None
    github_webhook_secret: str | None = None
    github_token: str | None = None
    github_api_url: str = "https://api.github.com"
    linear_webhook_secret: str | None = None
    linear_api_key: str | None = None
    linear_api_url: str = "https://api.linear.app/graphql"
    linear_team_key: str | None = None
    jwt_secret: str | None = None
    slack_client_id: str | None = None
    slack_client_secret: str | None = None
    public_url: str | None = None
    slack_oidc_authorize_url: str = "https://slack.com/openid/connect/authorize"
    # Not from the environment: tests and one-shot commands turn the background jobs off.
    run_jobs: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        """Build from environment variables; an empty variable counts as unset."""

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        problems: list[str] = []
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            if field.name == "run_jobs":
                continue
            raw = get(field.name.upper())
            if raw is not None:
                values[field.name] = raw

        if "port" in values:
            port = str(values["port"])
            if not port.isdigit() or not 0 < int(port) < 65536:
                problems.append(f"PORT must be a TCP port number (1-65535), got {port!r}")
            else:
                values["port"] = int(port)
        if "data_dir" in values:
            values["data_dir"] = Path(str(values["data_dir"]))

        url = values.get("database_url")
        if url is not None and urlsplit(str(url)).scheme not in ("postgres", "postgresql"):
            problems.append("DATABASE_URL must be a postgresql:// URL (unset it to use the embedded server)")
        for name in (
            "slack_api_url",
            "github_api_url",
            "linear_api_url",
            "sentry_dsn",
            "public_url",
            "slack_oidc_authorize_url",
        ):
            value = values.get(name)
            if value is not None and urlsplit(str(value)).scheme not in ("http", "https"):
                problems.append(f"{name.upper()} must be an http(s) URL, got {value!r}")
        if values.get("slack_api_url") and not str(values["slack_api_url"]).endswith("/"):
            values["slack_api_url"] = str(values["slack_api_url"]) + "/"

        token = values.get("slack_bot_token")
        if token is not None and not str(token).startswith("xoxb-"):
            problems.append("SLACK_BOT_TOKEN must be a bot token (xoxb-...)")
        app_token = values.get("slack_app_token")
        if app_token is not None:
            if not str(app_token).startswith("xapp-"):
                problems.append("SLACK_APP_TOKEN must be an app-level token (xapp-...) for Socket Mode")
            if token is None:
                problems.append("SLACK_APP_TOKEN (Socket Mode) also needs SLACK_BOT_TOKEN")

        if problems:
            raise ConfigError("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
        return cls(**values)  # type: ignore[arg-type]

    def missing(self) -> list[str]:
        """Optional credentials that are unset, as environment variable names (for the start-up log)."""
        names = (
            "slack_bot_token",
            "slack_signing_secret",
            "sentry_client_secret",
            "github_webhook_secret",
            "linear_webhook_secret",
            "linear_api_key",
            "jwt_secret",
        )
        return [n.upper() for n in names if getattr(self, n) is None]

"""Configuration from the environment: read once at start, validated, immutable."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """Raised with every problem found, one per line, so a person can fix them all at once."""


class Secret(str):
    """A credential: usable wherever a ``str`` is, but its ``repr`` (dataclass reprs, tracebacks, debuggers,
    error reporters) never shows the value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('********')"


SECRET_FIELDS = (
    "database_url",
    "slack_bot_token",
    "slack_signing_secret",
    "slack_app_token",
    "sentry_client_secret",
    "sentry_dsn",
    "github_webhook_secret",
    "github_token",
    "linear_webhook_secret",
    "linear_api_key",
    "jwt_secret",
    "slack_client_secret",
    "sentry_auth_token",
)
MIN_JWT_SECRET_BYTES = 32  # RFC 7518 section 3.2: an HS256 key of at least 256 bits


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 3000
    database_url: Secret | None = None
    data_dir: Path = Path(".data")
    slack_bot_token: Secret | None = None
    slack_signing_secret: Secret | None = None
    slack_app_token: Secret | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_approvals_channel: str | None = None
    slack_incidents_channel: str | None = None
    sentry_client_secret: Secret | None = None
    sentry_dsn: Secret | None = None
    github_webhook_secret: Secret | None = None
    github_token: Secret | None = None
    github_api_url: str = "https://api.github.com"
    linear_webhook_secret: Secret | None = None
    linear_api_key: Secret | None = None
    linear_api_url: str = "https://api.linear.app/graphql"
    linear_team_key: str | None = None
    jwt_secret: Secret | None = None
    jwt_jwks_url: str | None = None
    jwt_audience: str | None = None
    jwt_max_lifetime_s: int = 24 * 3600
    slack_client_id: str | None = None
    slack_client_secret: Secret | None = None
    public_url: str | None = None
    slack_oidc_authorize_url: str = "https://slack.com/openid/connect/authorize"
    # Sentry's REST API, read by the delivery-gap sweeper (domain/sweeper/).
    sentry_auth_token: Secret | None = None
    sentry_org: str | None = None
    sentry_api_url: str = "https://sentry.io"
    # Not from the environment: tests and one-shot commands turn the background jobs off.
    run_jobs: bool = True

    def __post_init__(self) -> None:
        # Whoever builds a Config (from_env, tests, benches) passes plain strings: keep them as Secrets.
        for name in SECRET_FIELDS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, Secret):
                object.__setattr__(self, name, Secret(value))

    def secrets(self) -> list[str]:
        """Every configured credential value (what logs and error reports must never carry)."""
        return [str.__str__(v) for n in SECRET_FIELDS if (v := getattr(self, n)) is not None]

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
        if "jwt_max_lifetime_s" in values:
            lifetime = str(values["jwt_max_lifetime_s"])
            if not lifetime.isascii() or not lifetime.isdigit() or not 0 < int(lifetime[:12]) <= 10**9:
                problems.append(f"JWT_MAX_LIFETIME_S must be a number of seconds (1 or more), got {lifetime!r}")
            else:
                values["jwt_max_lifetime_s"] = int(lifetime)
        secret = values.get("jwt_secret")
        if secret is not None and len(str(secret).encode("utf-8")) < MIN_JWT_SECRET_BYTES:
            problems.append(
                f"JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes (RFC 7518 asks for a 256-bit HS256 key; "
                "a short one can be guessed offline from any token), e.g. `openssl rand -base64 48`"
            )
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
            "jwt_jwks_url",
            "public_url",
            "slack_oidc_authorize_url",
            "sentry_api_url",
        ):
            value = values.get(name)
            if value is not None and urlsplit(str(value)).scheme not in ("http", "https"):
                shown = "" if name in SECRET_FIELDS else f", got {value!r}"
                problems.append(f"{name.upper()} must be an http(s) URL{shown}")
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
        for name in SECRET_FIELDS:
            if name in values:
                values[name] = Secret(str(values[name]))
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
        unset = [n.upper() for n in names if getattr(self, n) is None]
        return [n for n in unset if not (n == "JWT_SECRET" and self.jwt_jwks_url)]

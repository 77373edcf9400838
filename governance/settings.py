"""Typed settings, read from ``GOVERNANCE_*`` environment variables.

Every setting has a type, a default, a section and a description; the README's
configuration table is generated from this class (``governance config env-table``) and a
test checks the two agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "GOVERNANCE_"


def _setting(default: Any, section: str, description: str, **constraints: Any) -> Any:
    return Field(
        default=default,
        description=description,
        json_schema_extra={"section": section},
        **constraints,
    )


class Settings(BaseSettings):
    """All configuration of the platform, grouped by section."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    # -- core
    env: Literal["development", "production", "testing"] = _setting(
        "development",
        "core",
        "Deployment environment: development, testing or production. In production, "
        "cookies are Secure, keys are never generated and demo commands are refused.",
    )
    instance_path: Path | None = _setting(
        None,
        "core",
        "Instance folder for the SQLite database and development keys "
        "(default: ./instance beside the code).",
    )
    public_base_url: str = _setting(
        "http://127.0.0.1:5000",
        "core",
        "Base URL used to build links handed to customers (portal links).",
    )
    log_level: str = _setting("INFO", "core", "Log level of the JSON logs on stderr.")
    proxy_hops: int = _setting(
        0,
        "core",
        "Number of trusted reverse proxies in front of the app; their X-Forwarded-For/-Proto "
        "set the client address (used by rate limits) and the scheme.",
    )

    # -- database
    database_url: str | None = _setting(
        None,
        "database",
        "SQLAlchemy URL. Default: SQLite file governance.sqlite3 in the instance folder. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db.",
    )
    database_echo: bool = _setting(False, "database", "Log every SQL statement (debugging).")

    # -- keys
    key_dir: Path | None = _setting(
        None,
        "keys",
        "Folder holding the key files (default: <instance>/keys). Development keys are "
        "generated there, mode 0600, when missing.",
    )
    key_vault_url: str | None = _setting(
        None,
        "keys",
        "Database holding subjects' wrapped data keys, apart from the profile database so "
        "that erasure reaches its backups too (default: sqlite:///<key_dir>/"
        "subject-keys.sqlite3). Give it its own, short backup retention.",
    )
    secret_key_file: Path | None = _setting(
        None, "keys", "File with the Flask session signing key (default: <key_dir>/session.key)."
    )
    kek_file: Path | None = _setting(
        None,
        "keys",
        "Keyring file of key-encryption keys that wrap per-subject data keys "
        "(default: <key_dir>/kek.json).",
    )
    kek_provider: Literal["file", "env", "kms"] = _setting(
        "file",
        "keys",
        "Where the key-encryption keys come from: file (the keyring file "
        "GOVERNANCE_KEK_FILE), env (the same JSON in the variable named by "
        "GOVERNANCE_KEK_ENV_VAR; development and containers) or kms (the adapter named by "
        "GOVERNANCE_KEK_ADAPTER). See docs/keys.md.",
    )
    kek_env_var: str = _setting(
        "GOVERNANCE_KEK_KEYRING",
        "keys",
        "For GOVERNANCE_KEK_PROVIDER=env: the environment variable holding the keyring JSON "
        '({"active": id, "keys": {id: base64}}); it is read when the keys are loaded '
        "and never copied into the configuration.",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
    )
    kek_adapter: str | None = _setting(
        None,
        "keys",
        "For GOVERNANCE_KEK_PROVIDER=kms: 'package.module:factory'; factory(settings) returns "
        "the KMS adapter (active_id, key_ids(), wrap(), unwrap(); docs/keys.md).",
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
    )
    blind_index_key_file: Path | None = _setting(
        None,
        "keys",
        "File with the HMAC key for blind indexes (default: <key_dir>/blind-index.key).",
    )
    portal_link_key_file: Path | None = _setting(
        None,
        "keys",
        "File with the key that signs portal links (default: <key_dir>/portal-link.key).",
    )
    audit_signing_key_file: Path | None = _setting(
        None,
        "keys",
        "Ed25519 private key (PEM) that signs audit checkpoints "
        "(default: <key_dir>/audit-signing.pem).",
    )
    receipt_signing_key_file: Path | None = _setting(
        None,
        "keys",
        "Ed25519 private key (PEM) that signs consent receipts; its public key is published "
        "at /.well-known/governance-consent-jwks.json "
        "(default: <key_dir>/consent-receipt-signing.pem).",
    )
    manifest_signing_key_file: Path | None = _setting(
        None,
        "keys",
        "Ed25519 private key (PEM) that signs federated cohort manifests; partners verify "
        "them with its public key (default: <key_dir>/cohort-manifest-signing.pem).",
    )
    generate_dev_keys: bool = _setting(
        True,
        "keys",
        "Generate missing key files at start-up. Refused when env is production.",
    )

    # -- audit
    audit_log_origin: str | None = _setting(
        None,
        "audit",
        "Name of the audit log in its signed checkpoints (default: <host of "
        "public_base_url>/audit). Keep it stable: verifiers check it.",
    )
    audit_checkpoint_interval_seconds: int = _setting(
        300,
        "audit",
        "Sign a checkpoint with the first append after this many seconds since the last one "
        "(0: only on demand and at shutdown).",
        ge=0,
    )
    audit_checkpoint_on_shutdown: bool = _setting(
        True,
        "audit",
        "Sign a checkpoint when a process that appended entries exits.",
    )
    audit_retention_days: int = _setting(
        1095,
        "audit",
        "Entries are kept at least this many days before they may be archived; values below "
        "1095 (three years) are refused.",
        ge=1095,
    )

    # -- consent
    controller_name: str = _setting(
        "Example Retail",
        "consent",
        "Name of the personal information handler (PII controller) written into every "
        "consent receipt.",
        min_length=1,
    )
    consent_webhook_timeout_seconds: float = _setting(
        5.0,
        "consent",
        "Webhook delivery: timeout for connecting to a subscriber and for each read or write; "
        "a slower answer counts as a failed attempt.",
        gt=0,
        le=60,
    )
    consent_webhook_backoff_base_seconds: float = _setting(
        1.0,
        "consent",
        "Webhook delivery: delay before retrying after the first failed attempt; it doubles "
        "with each further failure up to the cap, and a random part (up to half) is taken "
        "off so retries spread out.",
        gt=0,
    )
    consent_webhook_backoff_cap_seconds: float = _setting(
        3600.0,
        "consent",
        "Webhook delivery: longest delay between two attempts of one message.",
        gt=0,
    )
    consent_webhook_max_attempts: int = _setting(
        20,
        "consent",
        "Webhook delivery: failed attempts after which a message is dead-lettered (shown to "
        "the DPO; later messages for the same subscriber and subject wait until it is retried "
        "or discarded).",
        ge=1,
        le=1000,
    )
    consent_webhook_poll_interval_ms: int = _setting(
        200,
        "consent",
        "Webhook delivery: how often 'governance consent deliver' looks for due messages "
        "while idle (it goes on at once while there is work).",
        ge=10,
        le=60_000,
    )

    # -- data-subject requests
    subject_request_due_days: int = _setting(
        15,
        "requests",
        "Days a data-subject request (PIPL arts. 44-50: access, copy, correction, erasure, "
        "restriction, explanation) has before it is due; the DPO's queue sorts by this date "
        "and flags requests past it as overdue.",
        ge=1,
        le=90,
    )

    # -- insights (the DPO console's charts)
    insights_time_zone: str = _setting(
        "Asia/Shanghai",
        "insights",
        "IANA time zone of the console charts' days and of their allowed hours (a read by "
        "an operator outside them is flagged).",
        min_length=1,
    )
    insights_allowed_hours_start: int = _setting(
        8,
        "insights",
        "Console charts: first hour (0-23, in GOVERNANCE_INSIGHTS_TIME_ZONE) in which an "
        "operator's reads are expected; earlier reads are flagged.",
        ge=0,
        le=23,
    )
    insights_allowed_hours_end: int = _setting(
        20,
        "insights",
        "Console charts: the hour (1-24) at which allowed hours end; reads from then on are "
        "flagged (20: reads at 20:00 or later). Below the start hour, the allowed hours run "
        "past midnight.",
        ge=1,
        le=24,
    )
    insights_anomaly_factor: float = _setting(
        3.0,
        "insights",
        "Console charts: an actor's reads on one day are flagged when they reach this many "
        "times its baseline (the median of its previous days, at least the minimum).",
        gt=1,
        le=1000,
    )
    insights_baseline_days: int = _setting(
        14,
        "insights",
        "Console charts: how many previous days (days without reads count as 0) make an "
        "actor's baseline.",
        ge=1,
        le=366,
    )
    insights_min_baseline: float = _setting(
        10.0,
        "insights",
        "Console charts: the smallest baseline (reads a day), so a new or quiet actor is "
        "flagged only from factor x this on.",
        gt=0,
    )

    # -- compliance self-check (the DPO console)
    compliance_window_days: int = _setting(
        30,
        "compliance",
        "Compliance self-check: the refused processing it lists is that of the last this "
        "many days; a verification older than this needs attention.",
        ge=1,
        le=366,
    )
    compliance_expiring_days: int = _setting(
        30,
        "compliance",
        "Compliance self-check: a partner agreement ending within this many days needs "
        "attention (one already past its end is failing).",
        ge=0,
        le=366,
    )
    compliance_key_max_age_days: int = _setting(
        365,
        "compliance",
        "Compliance self-check: a key file not rewritten for longer than this many days "
        "needs rotating (docs/keys.md).",
        ge=1,
        le=3650,
    )

    # -- policy
    policy_engine: Literal["embedded", "opa"] = _setting(
        "embedded",
        "policy",
        "Where Rego decisions are evaluated: embedded (regopy, in-process) or opa (an OPA "
        "server at GOVERNANCE_OPA_URL, loaded with the same policies and data at start-up).",
    )
    opa_url: str = _setting(
        "http://127.0.0.1:8181",
        "policy",
        "OPA server for GOVERNANCE_POLICY_ENGINE=opa.",
    )
    policy_timeout_ms: int = _setting(
        200,
        "policy",
        "A decision that takes longer is discarded and denies every field (engine_error).",
        ge=1,
        le=10_000,
    )
    policy_cache_size: int = _setting(
        4096,
        "policy",
        "Embedded engine: decisions remembered per policy bundle, by their exact input (a "
        "cohort export asks the same question for many subjects); 0 evaluates every one.",
        ge=0,
        le=1_000_000,
    )
    policy_reload: bool | None = _setting(
        None,
        "policy",
        "Recompile the policies when a file in policies/ changes (default: in development only).",
    )

    # -- limits
    max_body_bytes: int = _setting(
        1_048_576, "limits", "Largest accepted request body in bytes; larger gets 413."
    )
    login_rate_limit: str = _setting(
        "10 per minute",
        "limits",
        "Login attempts allowed per client address and per username.",
    )
    ratelimit_storage_uri: str = _setting(
        "memory://",
        "limits",
        "Storage for rate-limit counters (memory://, redis://host:port). Use a shared store "
        "with several gunicorn workers.",
    )
    portal_link_ttl_seconds: int = _setting(
        600, "limits", "Lifetime of a portal link; each link also works only once."
    )
    portal_session_minutes: int = _setting(30, "limits", "Lifetime of a customer's portal session.")
    operator_session_minutes: int = _setting(
        480, "limits", "Lifetime of an operator's console session."
    )

    @field_validator("insights_time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name such as Asia/Shanghai)"
            ) from exc
        return value

    @model_validator(mode="after")
    def _allowed_hours_are_not_empty(self) -> Settings:
        if self.insights_allowed_hours_start == self.insights_allowed_hours_end:
            raise ValueError("insights_allowed_hours_start and _end must differ")
        return self

    @model_validator(mode="after")
    def _kms_needs_an_adapter(self) -> Settings:
        if self.kek_provider == "kms" and not self.kek_adapter:
            raise ValueError("kek_provider 'kms' needs kek_adapter ('package.module:factory')")
        return self


def env_name(field_name: str) -> str:
    """Return the environment variable that sets ``field_name``."""
    return ENV_PREFIX + field_name.upper()


def settings_table() -> list[tuple[str, str, str, str]]:
    """Rows of (section, variable, default, description) for every setting."""
    rows = []
    for name, info in Settings.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        default = "" if info.default is None else str(info.default)
        if isinstance(info.default, bool):
            default = str(info.default).lower()
        rows.append(
            (str(extra.get("section", "")), env_name(name), default, info.description or "")
        )
    return rows

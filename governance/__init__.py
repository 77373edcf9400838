"""The governance platform's Flask application.

``create_app`` builds an app from defaults, then ``GOVERNANCE_*`` environment variables,
then the ``test_config`` mapping; every package hooks itself in through ``init_app``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from governance.settings import Settings

__all__ = ["create_app"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _resolve_settings(test_config: Mapping[str, Any] | None) -> tuple[Settings, dict[str, Any]]:
    """Apply ``test_config`` over the environment; split off plain Flask config keys."""
    overrides: dict[str, Any] = {}
    flask_extra: dict[str, Any] = {}
    for key, value in (test_config or {}).items():
        if key.lower() in Settings.model_fields:
            overrides[key.lower()] = value
        else:
            flask_extra[key] = value
    return Settings(**overrides), flask_extra


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create and configure the application."""
    settings, flask_extra = _resolve_settings(test_config)
    if settings.instance_path is not None:
        instance: Path | None = Path(settings.instance_path).resolve()
    elif (PROJECT_ROOT / "pyproject.toml").exists():
        instance = PROJECT_ROOT / "instance"  # a checkout: ./instance, as make run expects
    else:
        instance = None  # an installed copy: Flask's default, <prefix>/var/governance-instance
    app = Flask(
        __name__,
        instance_path=str(instance) if instance else None,
        instance_relative_config=True,
    )
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)

    from governance import keys

    key_dir = Path(settings.key_dir or instance / "keys")
    key_paths = keys.KeyPaths(
        secret_key=Path(settings.secret_key_file or key_dir / "session.key"),
        kek=Path(settings.kek_file or key_dir / "kek.json"),
        blind_index=Path(settings.blind_index_key_file or key_dir / "blind-index.key"),
        portal_link=Path(settings.portal_link_key_file or key_dir / "portal-link.key"),
        audit_signing=Path(settings.audit_signing_key_file or key_dir / "audit-signing.pem"),
        receipt_signing=Path(
            settings.receipt_signing_key_file or key_dir / keys.RECEIPT_SIGNING_FILE
        ),
        manifest_signing=Path(
            settings.manifest_signing_key_file or key_dir / keys.MANIFEST_SIGNING_FILE
        ),
    )
    if settings.generate_dev_keys and settings.env != "production":
        keys.ensure_dev_keys(key_paths)

    development = settings.env != "production"
    app.config.from_mapping(
        {name.upper(): value for name, value in settings.model_dump().items()},
    )
    app.config.update(
        DATABASE_URL=settings.database_url or f"sqlite:///{instance / 'governance.sqlite3'}",
        KEY_VAULT_URL=settings.key_vault_url or f"sqlite:///{key_dir / 'subject-keys.sqlite3'}",
        KEY_PATHS=key_paths,
        SECRET_KEY=keys.read_key_file(key_paths.secret_key),
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        SESSION_COOKIE_NAME="governance_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not (development or settings.env == "testing"),
        WTF_CSRF_CHECK_DEFAULT=False,  # checked per actor in governance.auth
        WTF_CSRF_TIME_LIMIT=None,  # bound to the session's own lifetime instead
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri,
        RATELIMIT_HEADERS_ENABLED=True,
        JSON_SORT_KEYS=False,
    )
    app.config.update(flask_extra)
    app.extensions["governance.settings"] = settings
    if settings.proxy_hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops
        )

    from governance import db, errors, http, logs

    logs.init_app(app)
    db.init_app(app)
    errors.init_app(app)

    from governance import api, auth, brands, cli, demo, meta, pii, profiles, web

    api.init_app(app)
    auth.init_app(app)  # authentication and permission checks run before body checks
    http.init_app(app)
    meta.init_app(app)
    brands.init_app(app)

    import audit
    import consent
    from consent import catalog

    audit.init_app(app)
    catalog.init_app(app)
    consent.init_app(app)
    import policies

    policies.init_app(app)
    import federated.governance

    federated.governance.init_app(app)
    profiles.init_app(app)
    from governance import requests

    requests.init_app(app)
    pii.init_app(app)
    demo.init_app(app)
    web.init_app(app)
    cli.init_app(app)
    from governance import keys_cli

    keys_cli.init_app(app)
    return app

"""Every endpoint declares the permission it needs; an undeclared one is refused."""

from __future__ import annotations

from typing import Any

from flask import Flask

from governance.auth.permissions import (
    BUILTIN_PUBLIC_ENDPOINTS,
    PUBLIC,
    ROLE_PERMISSIONS,
    SERVICE_GRANTABLE,
    Permission,
    Role,
    declared_permission,
)

_IMPLICIT_METHODS = {"HEAD", "OPTIONS"}


def undeclared_endpoints(app: Flask) -> list[str]:
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in BUILTIN_PUBLIC_ENDPOINTS:
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - _IMPLICIT_METHODS):
            if declared_permission(view, method) is None:
                missing.append(f"{method} {rule.rule} ({rule.endpoint})")
    return missing


def test_every_endpoint_declares_a_permission_or_is_public(app: Flask) -> None:
    assert len(list(app.url_map.iter_rules())) > 10
    assert undeclared_endpoints(app) == []


def test_the_walk_finds_an_undeclared_endpoint(app: Flask) -> None:
    @app.get("/api/v1/forgotten")
    def forgotten() -> str:
        return "should never be served"

    assert undeclared_endpoints(app) == ["GET /api/v1/forgotten (forgotten)"]
    resp = app.test_client().get("/api/v1/forgotten")
    assert resp.status_code == 403
    assert resp.get_json()["type"] == "/problems/forbidden"


def test_public_endpoints_are_few_and_known(app: Flask) -> None:
    public = sorted(
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if any(
            declared_permission(app.view_functions[rule.endpoint], m) is PUBLIC
            for m in (rule.methods or set()) - _IMPLICIT_METHODS
        )
    )
    assert public == sorted(
        [
            "audit_public.signing_key",
            "console.login",
            "console.logout",
            "console.totp",
            "console.totp_enrol",
            "consent_receipts_public.jwks",
            "docs.docs",
            "docs.swagger_asset",
            "meta.healthz",
            "meta.problem",
            "portal.bye",
            "portal.enter",
            "portal.enter_form",
            "portal.logout",
            "web.set_language",  # the language switch (a form with a CSRF token)
        ]
    )


def test_services_can_never_hold_operator_permissions() -> None:
    assert Permission.API_KEYS_MANAGE not in SERVICE_GRANTABLE
    assert Permission.OPERATORS_MANAGE not in SERVICE_GRANTABLE
    assert Permission.CONSOLE_ACCESS not in SERVICE_GRANTABLE


def test_only_admins_manage_keys_and_operators() -> None:
    holders = {r for r, perms in ROLE_PERMISSIONS.items() if Permission.API_KEYS_MANAGE in perms}
    assert holders == {Role.ADMIN}


def test_marketing_operator_is_refused_an_admin_endpoint(as_operator: Any) -> None:
    assert as_operator("marketing").get("/api/v1/api-keys").status_code == 403
    assert as_operator("admin").get("/api/v1/api-keys").status_code == 200

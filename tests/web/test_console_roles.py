"""Every console page answers an operator by role: 403 without the permission, never a leak.

The walk covers every route under ``/console/`` that needs a permission, so a page added
later is held to the same rule without a test of its own: each of the five roles opens it
(GET with placeholder path values; POST with a valid CSRF token), and an operator whose
roles lack the page's permission gets 403 and nothing else.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from governance.auth.permissions import (
    PUBLIC,
    ROLE_PERMISSIONS,
    Permission,
    Role,
    declared_permission,
)

_IMPLICIT = {"HEAD", "OPTIONS"}


def console_routes(app: Flask) -> list[tuple[str, str, Permission]]:
    """(method, path with placeholders filled, permission) of every guarded console route."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/console/"):
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - _IMPLICIT):
            needed = declared_permission(view, method)
            if needed is None or needed is PUBLIC:
                continue
            assert isinstance(needed, Permission)
            path = re.sub(r"<(?:int:)?[^>]+>", "1", rule.rule)
            found.append((method, path, needed))
    return found


def test_the_walk_finds_the_console_pages(app: Flask) -> None:
    paths = {path for _m, path, _p in console_routes(app)}
    assert {"/console/", "/console/step-up"} <= paths
    # The DPO's pages are in the walk (each needs more than console access).
    assert any(p is not Permission.CONSOLE_ACCESS for _m, _path, p in console_routes(app))


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_an_operator_without_the_pages_permission_gets_403(
    app: Flask, as_operator: Any, role: str
) -> None:
    client = as_operator(role)
    held = ROLE_PERMISSIONS[Role(role)]
    refused = 0
    for method, path, needed in console_routes(app):
        if needed in held:
            if method == "GET":
                resp = client.get(path)
                assert resp.status_code != 403, (role, path)
            continue
        resp = client.open(method, path, data={})
        assert resp.status_code == 403, (role, method, path, resp.status_code)
        refused += 1
    if role != Role.DPO.value:
        assert refused > 0, f"{role} holds every console permission"

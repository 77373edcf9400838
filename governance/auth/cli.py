"""Commands for operators and service API keys.

Passwords are read from a hidden prompt or stdin, never from an argument (which would sit
in shell history and the process list); API key tokens are printed once.
"""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from consent.catalog.models import Purpose
from governance.auth import services
from governance.auth.models import ApiKey, Operator
from governance.auth.permissions import Role
from governance.brands import DEFAULT_BRAND
from governance.db import get_session, utcnow
from governance.errors import ApiError

operator_group = AppGroup("operator", help="Console operators.")
apikey_group = AppGroup("apikey", help="Service API keys.")


def _fail(exc: ApiError) -> None:
    raise click.ClickException(exc.detail + (f" {exc.errors}" if exc.errors else ""))


@operator_group.command("create")
@click.argument("username")
@click.option(
    "--role", "roles", multiple=True, required=True, type=click.Choice([r.value for r in Role])
)
@click.option("--display-name", default="")
@click.option("--brand", default=None, help="The one brand this operator works for (default: all).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
def operator_create(
    username: str,
    roles: tuple[str, ...],
    display_name: str,
    brand: str | None,
    password_stdin: bool,
) -> None:
    """Create an operator; TOTP is enrolled at first sign-in."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    db = get_session()
    try:
        op = services.create_operator(db, username, password, list(roles), display_name, brand)
    except ApiError as exc:
        _fail(exc)
        return
    db.commit()
    scope = f"brand {op.brand_id}" if op.brand_id else "all brands"
    click.echo(f"operator {op.username} created (id {op.id}, roles {', '.join(op.roles)}, {scope})")


def _operator(username: str) -> Operator:
    op = get_session().scalar(select(Operator).where(Operator.username == username))
    if op is None:
        raise click.ClickException(f"no operator named {username!r}")
    return op


@operator_group.command("disable")
@click.argument("username")
def operator_disable(username: str) -> None:
    """Disable an operator; their sessions stop working at once."""
    op = _operator(username)
    op.disabled_at = op.disabled_at or utcnow()
    get_session().commit()
    click.echo(f"operator {username} disabled")


@operator_group.command("reset-totp")
@click.argument("username")
def operator_reset_totp(username: str) -> None:
    """Forget an operator's second factor; they enrol again at next sign-in."""
    op = _operator(username)
    op.totp_secret_wrapped = None
    op.totp_enabled_at = None
    op.last_totp_step = None
    get_session().commit()
    click.echo(f"operator {username} will enrol a new second factor at next sign-in")


@apikey_group.command("create")
@click.option("--name", required=True)
@click.option("--purpose", "purposes", multiple=True, help="Purpose id in the catalog (repeat).")
@click.option("--permission", "permissions", multiple=True, help="Service permission (repeat).")
@click.option("--brand", default=DEFAULT_BRAND, show_default=True, help="The key's brand.")
def apikey_create(
    name: str, purposes: tuple[str, ...], permissions: tuple[str, ...], brand: str
) -> None:
    """Create a service key and print its token once."""
    db = get_session()
    known = set(db.scalars(select(Purpose.id)))
    try:
        new = services.create_api_key(
            db, name, list(purposes), list(permissions) or None, known, brand=brand
        )
    except ApiError as exc:
        _fail(exc)
        return
    db.commit()
    click.echo(f"API key {new.key.id} created; store this token now, it is not shown again:")
    click.echo(new.token)


@apikey_group.command("revoke")
@click.argument("key_id")
def apikey_revoke(key_id: str) -> None:
    """Revoke a key at once."""
    db = get_session()
    try:
        services.revoke_api_key(db, key_id)
    except ApiError as exc:
        _fail(exc)
    db.commit()
    click.echo(f"API key {key_id} revoked")


@apikey_group.command("list")
def apikey_list() -> None:
    """List keys (never their secrets)."""
    for key in get_session().scalars(select(ApiKey).order_by(ApiKey.created_at)):
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        purposes = ",".join(key.purposes)
        click.echo(f"{key.id}\t{key.name}\t{key.brand_id}\t{state}\tlast used {used}\t{purposes}")


def init_app(app: Flask) -> None:
    """Register the operator and apikey commands."""
    app.cli.add_command(operator_group)
    app.cli.add_command(apikey_group)

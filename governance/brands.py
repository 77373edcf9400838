"""Brands: whose customers a subject, a service key, an operator and a subscription belong to.

One deployment may serve a group's several brands (member programmes run separately, one
data controller each). A subject belongs to exactly one brand; so does a service's API key
and a webhook subscription. An operator either belongs to one brand or, with no brand, works
for the whole group (the group's DPO). Whoever acts for one brand sees only that brand's
subjects: a subject of another brand is answered exactly like one that does not exist, so
its existence is not revealed either.

The catalog (fields, purposes, privacy notices) and the audit trail are the group's, shared
by its brands. A fresh database has one brand, ``default``; ``governance brand add`` adds
more.
"""

from __future__ import annotations

import datetime as dt
import re

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import DDL, String, event, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from governance.db import Base, get_session, utcnow
from governance.errors import ApiError

#: The brand of everything created without naming one (and of rows older than brands).
DEFAULT_BRAND = "default"
BRAND_ID = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")


class Brand(Base):
    """A brand of the group, known by a short id."""

    __tablename__ = "brands"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


#: A database built from the models (``create_all``) starts with the default brand, as a
#: migrated one does (migration 0004 inserts the same row).
DEFAULT_BRAND_ROW = (
    "INSERT INTO brands (id, name, created_at) "
    "VALUES ('default', 'Default brand', CURRENT_TIMESTAMP)"
)
event.listen(Brand.__table__, "after_create", DDL(DEFAULT_BRAND_ROW))


def require_brand(db: Session, brand_id: str) -> Brand:
    """The brand ``brand_id``, or a 422 naming the field."""
    brand = db.get(Brand, brand_id) if BRAND_ID.match(brand_id) else None
    if brand is None:
        raise ApiError(
            "validation-error",
            "Unknown brand.",
            errors={"brand": ["No such brand; see 'governance brand list'."]},
        )
    return brand


def create_brand(db: Session, brand_id: str, name: str) -> Brand:
    """Add a brand; its id is permanent (it is stored on every subject of the brand)."""
    if not BRAND_ID.match(brand_id):
        raise ApiError(
            "validation-error",
            "The brand id is not well formed.",
            errors={"brand": ["2 to 32 of a-z, 0-9, '_' and '-', starting with a letter."]},
        )
    if not name.strip() or len(name) > 128:
        raise ApiError(
            "validation-error", "The brand needs a name.", errors={"name": ["1 to 128 characters."]}
        )
    if db.get(Brand, brand_id) is not None:
        raise ApiError("conflict", f"The brand {brand_id!r} already exists.")
    brand = Brand(id=brand_id, name=name.strip())
    db.add(brand)
    db.flush()
    return brand


def sees(actor_brand: str | None, brand_id: str) -> bool:
    """True if an actor of ``actor_brand`` (None: the whole group) may see ``brand_id``'s data."""
    return actor_brand is None or actor_brand == brand_id


def brand_for_new(db: Session, actor_brand: str | None, asked: str | None) -> str:
    """The brand of a key or subscription created by an actor of ``actor_brand``.

    Unnamed, it is the actor's own (the default brand for the group's operators); an actor
    of one brand cannot create for another.
    """
    if asked is None:
        return actor_brand or DEFAULT_BRAND
    require_brand(db, asked)
    if not sees(actor_brand, asked):
        raise ApiError("forbidden", "You act for one brand only and cannot create for another.")
    return asked


brand_group = AppGroup("brand", help="The group's brands.")


@brand_group.command("add")
@click.argument("brand_id")
@click.option("--name", required=True, help="The brand's display name.")
def brand_add(brand_id: str, name: str) -> None:
    """Add a brand."""
    db = get_session()
    try:
        create_brand(db, brand_id, name)
    except ApiError as exc:
        raise click.ClickException(exc.detail + (f" {exc.errors}" if exc.errors else "")) from None
    db.commit()
    click.echo(f"brand {brand_id} added")


@brand_group.command("list")
def brand_list() -> None:
    """List the brands."""
    for brand in get_session().scalars(select(Brand).order_by(Brand.id)):
        click.echo(f"{brand.id}\t{brand.name}")


def init_app(app: Flask) -> None:
    """Register the ``brand`` commands."""
    app.cli.add_command(brand_group)

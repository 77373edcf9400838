"""``governance catalog load FILE | --default`` and ``governance catalog show``.

``load`` validates and loads a catalog file (``-`` reads standard input) in one
transaction: it prints a one-line summary and commits, or prints every problem, rolls back
and exits with status 1, leaving the database as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import click
from flask.cli import AppGroup

from consent.catalog import services
from consent.catalog.loader import (
    DEFAULT_CATALOG_PATH,
    MAX_FILE_BYTES,
    load_catalog_bytes,
    load_catalog_file,
)
from consent.catalog.schema import CatalogError
from governance.db import get_session
from governance.errors import ApiError

catalog_group = AppGroup("catalog", help="The catalog of fields, purposes and privacy notices.")


def _fail(exc: ApiError) -> click.ClickException:
    if isinstance(exc, CatalogError):
        where = f"{exc.source}: " if exc.source else ""
        lines = [f"{where}{exc.summary}; nothing was written:"]
        lines += [f"  {message}" for message in exc.messages]
        return click.ClickException("\n".join(lines))
    return click.ClickException(f"{exc.detail} Nothing was written.")


@catalog_group.command("load")
@click.argument("file", required=False, type=click.File("rb"))
@click.option(
    "--default",
    "use_default",
    is_flag=True,
    help=f"Load the catalog shipped with the platform ({DEFAULT_CATALOG_PATH.name}).",
)
def load_command(file: BinaryIO | None, use_default: bool) -> None:
    """Validate and load the catalog in FILE ('-' for standard input), all or nothing."""
    if (file is None) == (not use_default):
        raise click.UsageError("Give either FILE or --default (not both).")
    db = get_session()
    try:
        if file is None:
            result = load_catalog_file(db, DEFAULT_CATALOG_PATH)
        else:
            data = file.read(MAX_FILE_BYTES + 1)  # never more than the limit
            name = getattr(file, "name", "-")
            source = "<stdin>" if name in {"-", "<stdin>"} else Path(name).name
            result = load_catalog_bytes(db, data, source)
        if not result.unchanged:
            db.commit()
    except ApiError as exc:
        db.rollback()
        raise _fail(exc) from None
    except BaseException:
        db.rollback()
        raise
    click.echo(result.summary())


@catalog_group.command("show")
def show_command() -> None:
    """Print the current catalog version, its hash and counts (status 1 if none loaded)."""
    current = services.current_catalog(get_session())
    if current is None:
        raise click.ClickException("no catalog loaded yet; run 'governance catalog load --default'")
    click.echo(
        f"catalog {current.version} (sha256 {current.sha256}), loaded "
        f"{current.loaded_at.isoformat(timespec='seconds')}: {current.fields} fields, "
        f"{current.purposes} purposes, {current.notices} notices"
    )

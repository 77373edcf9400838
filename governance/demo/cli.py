"""``governance demo ...``: fictional data and accounts to try the platform with.

- ``seed --subjects N``: fictional customers, fast (bulk inserts, worker processes);
- ``operators``: one demo operator per role and a demo service key, credentials in
  ``<instance>/demo-credentials.txt`` (0600);
- ``totp USERNAME``: the current second-factor code of a demo operator;
- ``links``: fresh one-time portal links for a few subjects;
- ``bootstrap``: all of the above that is missing (what ``make run`` calls).

Every command refuses to run when ``ENV`` is ``production``. Secrets are printed only to
the terminal that created them and written to the credentials file, never logged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import pyotp
from flask import current_app
from flask.cli import AppGroup
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from consent.catalog.models import CatalogVersion
from governance.auth import services
from governance.auth.models import Operator
from governance.db import get_engine, get_session
from governance.demo import accounts
from governance.demo.seed import SeedError, SeedResult, default_workers, seed_subjects
from governance.errors import ApiError
from governance.keys import KeyError_, Keyring, portal_link_key
from governance.profiles.crypto import profile_crypto
from governance.profiles.models import Subject
from governance.profiles.vault import get_vault_engine

F = TypeVar("F", bound=Callable[..., Any])

demo_group = AppGroup(
    "demo", help="Fictional demo data and accounts (development only; refused in production)."
)

BOOTSTRAP_SUBJECTS = 1000


def development_only(command: F) -> F:
    """Refuse the command (exit status 1) when the app runs in production."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_app.config.get("ENV") == "production":
            raise click.ClickException(
                "demo commands are refused in production (GOVERNANCE_ENV=production)"
            )
        return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _keyring() -> Keyring:
    return profile_crypto().keyring


def _base_url() -> str:
    return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")


def _credentials_file() -> Path:
    return accounts.credentials_path(current_app.instance_path)


# -- seed ------------------------------------------------------------------------------------


def run_seed(count: int, seed: int | None, batch: int, workers: int | None) -> SeedResult:
    """Seed ``count`` subjects with a progress bar on a terminal; print one summary line."""
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("seeding"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    )
    with progress:
        task = progress.add_task("seed", total=count)
        try:
            result = seed_subjects(
                get_engine(),
                current_app.config["KEY_PATHS"],
                count,
                vault=get_vault_engine(),
                seed=seed,
                batch_size=batch,
                workers=workers,
                progress=lambda n: progress.advance(task, n),
            )
        except (SeedError, KeyError_) as exc:  # messages name files and fields, not values
            raise click.ClickException(str(exc)) from None
        except IntegrityError:
            # E.g. subjects were deleted and a seed is reused: the same global index then
            # yields the same subject id again. The driver's message may quote values.
            raise click.ClickException(
                "the database refused a generated row (a subject that exists already, or "
                "a catalog change during the run); earlier batches were kept. Try another "
                "--seed."
            ) from None
    click.echo(
        f"seeded {result.created} subjects in {result.seconds:.1f} s "
        f"({result.rate:,.0f} subjects/s; {result.existing_before} existed before; "
        f"seed {result.seed}; worker processes: {result.workers})"
    )
    return result


@demo_group.command("seed")
@click.option("--subjects", "count", type=click.IntRange(min=0), required=True)
@click.option("--seed", type=int, default=None, help="Random seed (same seed, same data).")
@click.option("--batch", type=click.IntRange(min=1), default=5000, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help=f"Processes that generate and encrypt (0: none; default here: {default_workers()}).",
)
@click.option("--if-empty", is_flag=True, help="Do nothing if any subject exists.")
@development_only
def seed_command(
    count: int, seed: int | None, batch: int, workers: int | None, if_empty: bool
) -> None:
    """Create fictional customers with encrypted profiles (N subjects)."""
    if if_empty and get_session().scalar(select(Subject.id).limit(1)) is not None:
        click.echo("subjects exist already; nothing seeded (--if-empty)")
        return
    get_session().rollback()  # end the read before the seeding connection writes
    run_seed(count, seed, batch, workers)


# -- operators -------------------------------------------------------------------------------


def _ensure_accounts(reset: bool) -> accounts.DemoCredentials:
    db = get_session()
    try:
        made = accounts.ensure_demo_accounts(db, _keyring(), reset=reset)
    except ApiError as exc:
        db.rollback()
        raise click.ClickException(exc.detail) from None
    path = _credentials_file()
    if not made.is_empty():
        # The file first: if it cannot be written, nothing is committed (no lost secrets).
        accounts.write_credentials(path, accounts.merge(accounts.read_credentials(path), made))
    db.commit()
    return made


def _echo_made(made: accounts.DemoCredentials) -> None:
    if made.is_empty():
        click.echo("demo operators and service key exist already; nothing created")
        return
    click.echo(f"created (also saved in {_credentials_file()}, mode 0600):")
    click.echo(made.render())


@demo_group.command("operators")
@click.option(
    "--reset",
    is_flag=True,
    help="Give existing demo operators new passwords and TOTP secrets, and a new key.",
)
@development_only
def operators_command(reset: bool) -> None:
    """Create the demo operators (one per role) and the demo service key, if missing."""
    _echo_made(_ensure_accounts(reset))


@demo_group.command("totp")
@click.argument("username")
@development_only
def totp_command(username: str) -> None:
    """Print the current 6-digit TOTP code of demo operator USERNAME."""
    if username not in accounts.DEMO_OPERATORS:
        raise click.ClickException(
            f"only demo operators have codes here ({', '.join(accounts.DEMO_OPERATORS)})"
        )
    operator = get_session().scalar(select(Operator).where(Operator.username == username))
    if operator is None or operator.totp_secret_wrapped is None:
        raise click.ClickException(
            f"{username} does not exist or has no TOTP secret; run `governance demo operators`"
        )
    click.echo(pyotp.TOTP(services.totp_secret(operator, _keyring())).now())


# -- links -----------------------------------------------------------------------------------


def portal_links(count: int) -> list[str]:
    """Fresh one-time portal links for the first ``count`` (not erased) subjects."""
    ids = get_session().scalars(
        select(Subject.id)
        .where(Subject.erased_at.is_(None))
        .order_by(Subject.created_at, Subject.id)
        .limit(count)
    )
    key = portal_link_key()
    return [
        f"{_base_url()}/portal/enter?token={services.issue_portal_token(sid, key)}" for sid in ids
    ]


@demo_group.command("links")
@click.option("--count", type=click.IntRange(min=1, max=100), default=3, show_default=True)
@development_only
def links_command(count: int) -> None:
    """Print fresh portal links (one-time, short-lived) for the first few subjects."""
    links = portal_links(count)
    if not links:
        raise click.ClickException("no subjects yet; run `governance demo seed` first")
    for link in links:
        click.echo(link)


# -- bootstrap -------------------------------------------------------------------------------


@demo_group.command("bootstrap")
@development_only
def bootstrap_command() -> None:
    """Load the default catalog, seed subjects and create demo accounts, where missing."""
    from consent.catalog.loader import DEFAULT_CATALOG_PATH, load_catalog_file

    db = get_session()
    if db.scalar(select(CatalogVersion.version).limit(1)) is None:
        try:
            result = load_catalog_file(db, DEFAULT_CATALOG_PATH)
        except ApiError as exc:
            db.rollback()
            raise click.ClickException(f"the default catalog does not load: {exc.detail}") from None
        db.commit()
        click.echo(f"catalog: loaded the default catalog (version {result.version})")
    else:
        click.echo("catalog: loaded already")
    has_subjects = db.scalar(select(Subject.id).limit(1)) is not None
    db.rollback()  # end the read before the seeding connection writes
    if has_subjects:
        click.echo("subjects: present already")
    else:
        run_seed(BOOTSTRAP_SUBJECTS, None, 5000, None)
    made = _ensure_accounts(reset=False)
    if made.is_empty():
        click.echo("demo accounts: present already")
    else:
        click.echo(f"demo accounts: created {', '.join(sorted(made.operators))} and the key")
    path = _credentials_file()
    click.echo(f"\nDemo credentials ({path}):")
    if path.exists():
        click.echo(path.read_text(encoding="utf-8"))
    else:
        click.echo("  (missing; `governance demo operators --reset` makes new ones)")
    base = _base_url()
    click.echo("Portal links (one-time; `governance demo links` prints more):")
    for link in portal_links(3):
        click.echo(f"  {link}")
    click.echo(f"DPO console: {base}/console/login")
    click.echo(f"API docs:    {base}/docs")

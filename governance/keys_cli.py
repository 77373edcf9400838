"""``governance keys``: rotate, re-wrap and retire key-encryption keys; show what each wraps.

The procedure (``docs/keys.md``): ``rotate-kek`` (a new active KEK; the old ones stay),
``rewrap`` (every stored secret moves to the active KEK, in committed batches, resumable),
``status`` (per KEK, how many secrets it still wraps), ``retire-kek ID`` (only once that
is zero). Each change is an audit entry holding key ids and counts, never key material;
no command here prints a key. After every change this process forgets its cached keys
(:func:`~governance.profiles.crypto.reset_profile_crypto`); other processes using the
keyring file notice the new file by themselves (:class:`governance.keys.FileKeys`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

import audit
from governance.db import get_session
from governance.keys import KeyError_, Keyring, ManagedKeyEncryptionKeys
from governance.profiles.crypto import profile_crypto, reset_profile_crypto
from governance.profiles.rotation import NOT_IN_KEYRING, WRAPPED, kek_usage, pending, rewrap_batches

__all__ = ["init_app", "keys_group"]

#: Ids of rows that did not unwrap, printed at most this many (all are counted).
SHOWN_UNREADABLE = 20

keys_group = AppGroup(
    "keys",
    help="Key-encryption keys: status, rotation, re-wrapping, retirement (never prints a key).",
)


def init_app(app: Flask) -> None:
    """Register ``governance keys``."""
    app.cli.add_command(keys_group)


def _app() -> Flask:
    return cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]


def _provider() -> str:
    return str(current_app.config.get("KEK_PROVIDER", "file"))


def _fresh_keyring() -> Keyring:
    """The keyring as it is now (not as this process cached it)."""
    app = _app()
    reset_profile_crypto(app)
    try:
        return profile_crypto(app).keyring
    except KeyError_ as exc:
        raise click.ClickException(str(exc)) from None


def _usage_table(keyring: Keyring) -> tuple[list[str], dict[str, dict[str, int]]]:
    ids = keyring.key_ids()
    return ids, kek_usage(get_session(), ids)


def _wrapped_by(usage: Mapping[str, Mapping[str, int]], kek_id: str) -> dict[str, int]:
    return {kind: counts.get(kek_id, 0) for kind, counts in usage.items()}


@keys_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(as_json: bool) -> None:
    """Per KEK id: how many stored secrets it wraps, and which one is active."""
    keyring = _fresh_keyring()
    active = keyring.active_id
    ids, usage = _usage_table(keyring)
    kinds = [k.name for k in WRAPPED]
    if as_json:
        doc = {
            "provider": _provider(),
            "active": active,
            "keys": {kid: _wrapped_by(usage, kid) for kid in ids},
            "not_in_keyring": _wrapped_by(usage, NOT_IN_KEYRING),
        }
        click.echo(json.dumps(doc, indent=2))
        return
    width = max(len(kid) for kid in [*ids, NOT_IN_KEYRING, "kek id"])
    click.echo(f"{'kek id':<{width}}  " + "  ".join(f"{k:>15}" for k in kinds))
    for kid in [*ids, NOT_IN_KEYRING]:
        counts = _wrapped_by(usage, kid)
        if kid == NOT_IN_KEYRING and not any(counts.values()):
            continue
        mark = "  active" if kid == active else ""
        row = "  ".join(f"{counts[k]:>15,}" for k in kinds)
        click.echo(f"{kid:<{width}}  {row}{mark}")
    lost = sum(_wrapped_by(usage, NOT_IN_KEYRING).values())
    if lost:
        click.echo(
            f"{lost} stored secrets name a KEK this keyring does not hold: they cannot be "
            "unwrapped (a KEK removed by hand, or rows from another installation)",
            err=True,
        )


@keys_group.command("rotate-kek")
def rotate_kek() -> None:
    """Add a new 256-bit KEK and make it active; print its id (old KEKs stay, for unwrapping)."""
    keyring = _fresh_keyring()
    if not keyring.managed:
        raise click.ClickException(
            f"the {_provider()} keyring is not rotated by this command: add a new key to it "
            "and make it active where it is kept (docs/keys.md), restart, then run "
            "'governance keys rewrap'"
        )
    previous = keyring.active_id
    try:
        new = cast(ManagedKeyEncryptionKeys, keyring.backend).rotate()
    except (KeyError_, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    reset_profile_crypto(_app())
    db = get_session()
    audit.record(
        db,
        action="keys.kek.rotate",
        resource=f"kek:{new}",
        details={"kek_id": new, "previous_active": previous, "provider": _provider()},
    )
    db.commit()
    click.echo(new)
    click.echo(
        f"{new} wraps from now on; {previous} still unwraps. Next: governance keys rewrap",
        err=True,
    )


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )


def _record_rewrap(active: str, totals: dict[str, dict[str, int]], completed: bool) -> None:
    db = get_session()
    audit.record(
        db,
        action="keys.kek.rewrap",
        decision="allow" if completed else "error",
        resource=f"kek:{active}",
        reasons=() if completed else ("interrupted",),
        details={"active": active, "completed": completed, "counts": totals},
    )
    db.commit()


@keys_group.command("rewrap")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    help="Secrets re-wrapped and committed per batch.",
)
def rewrap(batch_size: int) -> None:
    """Re-wrap every stored secret that is not under the active KEK (resumable).

    Subject data keys, operators' TOTP secrets and webhook secrets are unwrapped and
    wrapped again, batch by batch, each batch committed; profile values are not touched.
    Run it again after an interruption: it carries on where it stopped.
    """
    keyring = _fresh_keyring()
    active = keyring.active_id
    db = get_session()
    to_do = pending(db, active)
    totals: dict[str, dict[str, int]] = {
        kind: {"rewrapped": 0, "unreadable": 0, "changed_meanwhile": 0} for kind in to_do
    }
    unreadable: list[tuple[str, str]] = []
    try:
        with _progress() as bar:
            task = bar.add_task(f"re-wrapping under {active}", total=sum(to_do.values()))
            for batch in rewrap_batches(db, keyring, batch_size):
                db.commit()
                counts = totals[batch.kind]
                counts["rewrapped"] += batch.rewrapped
                counts["unreadable"] += len(batch.unreadable)
                counts["changed_meanwhile"] += batch.changed_meanwhile
                unreadable.extend((batch.kind, rid) for rid in batch.unreadable)
                bar.advance(task, batch.seen)
    except BaseException:
        db.rollback()
        _record_rewrap(active, totals, completed=False)
        raise
    _record_rewrap(active, totals, completed=True)
    done = sum(c["rewrapped"] for c in totals.values())
    click.echo(
        f"re-wrapped {done} secrets under {active} ("
        + ", ".join(f"{kind}: {c['rewrapped']}" for kind, c in totals.items())
        + ")"
    )
    if unreadable:
        for kind, rid in unreadable[:SHOWN_UNREADABLE]:
            click.echo(f"cannot unwrap {kind} {rid}; left as it is", err=True)
        more = len(unreadable) - SHOWN_UNREADABLE
        if more > 0:
            click.echo(f"... and {more} more", err=True)
        raise click.ClickException(
            f"{len(unreadable)} secrets did not unwrap and stay under their old KEK "
            "(which therefore cannot be retired)"
        )


@keys_group.command("retire-kek")
@click.argument("kek_id")
def retire_kek(kek_id: str) -> None:
    """Remove KEK_ID from the keyring, once nothing stored is wrapped by it."""
    keyring = _fresh_keyring()
    ids = keyring.key_ids()
    if kek_id not in ids:
        raise click.ClickException(f"the keyring has no KEK {kek_id!r}")
    if kek_id == keyring.active_id:
        raise click.ClickException(
            f"{kek_id} is the active KEK; run 'governance keys rotate-kek' first"
        )
    db = get_session()
    still = _wrapped_by(kek_usage(db, [kek_id]), kek_id)
    in_use = sum(still.values())
    details: dict[str, Any] = {"kek_id": kek_id, "still_wrapped": still}
    if in_use:
        audit.record(
            db,
            action="keys.kek.retire",
            decision="deny",
            resource=f"kek:{kek_id}",
            reasons=("kek_in_use",),
            details=details,
        )
        db.commit()
        kinds = ", ".join(f"{n} {kind}" for kind, n in still.items() if n)
        raise click.ClickException(
            f"{kek_id} still wraps {in_use} stored secrets ({kinds}); "
            "run 'governance keys rewrap' first"
        )
    if not keyring.managed:
        raise click.ClickException(
            f"nothing is wrapped by {kek_id} any more; the {_provider()} keyring is not "
            "changed by this command: remove the key where it is kept (docs/keys.md)"
        )
    try:
        cast(ManagedKeyEncryptionKeys, keyring.backend).retire(kek_id)
    except (KeyError_, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    reset_profile_crypto(_app())
    audit.record(db, action="keys.kek.retire", resource=f"kek:{kek_id}", details=details)
    db.commit()
    click.echo(f"{kek_id} retired")

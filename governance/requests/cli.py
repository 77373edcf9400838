"""``governance requests``: the DPO's queue from the command line (e.g. a daily overdue check).

``governance requests list --overdue`` prints one request per line (id, kind, status,
brand, due date), oldest due first, and exits 1 when it printed any, so a scheduler can
alert on it. Ids and codes only: nothing here reads a profile.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from governance.db import get_session
from governance.requests.models import KINDS, STATUSES
from governance.requests.services import QueueFilter, iso, queue

requests_group = AppGroup("requests", help="Data-subject requests (PIPL arts. 44-50).")


@requests_group.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Default: open ones.")
@click.option("--kind", type=click.Choice(KINDS), default=None)
@click.option("--overdue", is_flag=True, help="Only open requests past their due date.")
@click.option("--brand", default=None, help="Only this brand's customers' requests.")
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True)
def list_requests(
    status: str | None, kind: str | None, overdue: bool, brand: str | None, limit: int
) -> None:
    """Print requests by due date; with --overdue, exit 1 if any is overdue."""
    session = get_session()
    where = QueueFilter(status=status, kind=kind, overdue=overdue)
    printed = 0
    after: str | None = None
    while printed < limit:
        page = queue(session, brand, where, after=after, limit=min(200, limit - printed))
        for row in page.rows:
            click.echo(f"{row.id}\t{row.kind}\t{row.status}\t{row.brand_id}\t{iso(row.due_at)}")
        printed += len(page.rows)
        if page.next is None:
            break
        after = page.next
    if overdue and printed:
        raise SystemExit(1)

"""``governance pii scan``: the detector on standard input, findings as JSON.

Reads all of standard input as UTF-8 and prints one JSON array of
``{"type", "start", "end", "score"}`` objects, sorted by start, with ``start`` and
``end`` counted in characters (Unicode code points) of the decoded text. This output is
a contract other tools rely on: keep it stable.
"""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

__all__ = ["pii_group"]

pii_group = AppGroup("pii", help="Find personal information in text.")


@pii_group.command("scan")
def scan() -> None:
    """Print the PII found in standard input (UTF-8) as a JSON array."""
    from governance.pii import analyze

    raw = sys.stdin.buffer.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"standard input is not UTF-8 (byte {exc.start})") from exc
    findings = [f.to_json() for f in analyze(text)]
    click.echo(json.dumps(findings, ensure_ascii=False))

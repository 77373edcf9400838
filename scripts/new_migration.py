"""Autogenerate the next Alembic revision: ``make migration m="add purpose owner"``.

The models are compared with a fresh, temporary SQLite database upgraded to the current
head, so the draft holds exactly what the models add. Revision ids are readable, numbered
in order: ``0001``, ``0002``, ... and the file is ``<id>_<slug>.py``. The draft is then
formatted with ruff; read and correct it before committing (see ``migrations/versions/README.md``).

With no model change nothing is written, unless ``--empty`` asks for a blank revision to
fill by hand (triggers, data fixes). ``--initial`` throws away ``0001_initial.py`` (only
while it is the sole revision) and writes it again from the models, for the early days when
the schema is still settling.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = ROOT / "migrations" / "versions"
NUMBERED = re.compile(r"^(\d{4})_\w+\.py$")


def alembic_config(url: str) -> Config:
    """The project's ``alembic.ini``, pointed at ``url``."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def next_revision_id() -> str:
    """One past the highest numbered revision file."""
    numbers = [int(m.group(1)) for p in VERSIONS.glob("*.py") if (m := NUMBERED.match(p.name))]
    return f"{max(numbers, default=0) + 1:04d}"


def _skip_if_empty(_context: Any, _revision: Any, directives: list[Any]) -> None:
    """Write nothing when autogenerate found no difference."""
    if directives and directives[0].upgrade_ops.is_empty():
        directives[:] = []


def tidy(path: Path) -> None:
    """Correct what autogenerate always gets wrong in this project, before ruff formats it.

    ``UTCDateTime`` fixes its own ``timezone=True``; autogenerate repeats it from the
    underlying ``DateTime``. The template leaves a trailing space after an empty "Revises:".
    """
    text = path.read_text(encoding="utf-8")
    text = text.replace("governance.db.UTCDateTime(timezone=True)", "governance.db.UTCDateTime()")
    text = "\n".join(line.rstrip() for line in text.splitlines()) + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Write the draft revision and print its path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("message", nargs="?", help="what the revision does")
    parser.add_argument(
        "--empty",
        action="store_true",
        help="write the revision even when the models did not change (hand-written DDL)",
    )
    parser.add_argument(
        "--initial", action="store_true", help="regenerate 0001_initial.py from the models"
    )
    args = parser.parse_args(argv)
    VERSIONS.mkdir(parents=True, exist_ok=True)
    if args.initial:
        existing = sorted(p for p in VERSIONS.glob("*.py") if p.name != "__init__.py")
        others = [p.name for p in existing if not p.name.startswith("0001_")]
        if others:
            parser.error(f"--initial needs 0001 to be the only revision; found {others}")
        for path in existing:
            path.unlink()
        message, rev_id = "initial", "0001"
    else:
        if not args.message:
            parser.error('say what the revision does: make migration m="..."')
        message, rev_id = args.message, next_revision_id()

    with tempfile.TemporaryDirectory(prefix="governance-migration-") as tmp:
        cfg = alembic_config(f"sqlite:///{Path(tmp) / 'head.sqlite3'}")
        head = ScriptDirectory.from_config(cfg).get_current_head()
        if head is not None:
            command.upgrade(cfg, "head")
        scripts = command.revision(
            cfg,
            message=message,
            autogenerate=True,
            rev_id=rev_id,
            process_revision_directives=None if args.empty else _skip_if_empty,
        )
    script = (scripts[0] if scripts else None) if isinstance(scripts, list) else scripts
    if script is None:
        print(
            "the models match the migrations: nothing written "
            '(for a hand-written revision: make migration m="..." empty=1)',
            file=sys.stderr,
        )
        return 1
    path = Path(script.path)
    tidy(path)
    ruff = Path(sys.executable).with_name("ruff")
    ruff_cmd = str(ruff) if ruff.exists() else "ruff"
    subprocess.run([ruff_cmd, "format", "--quiet", str(path)], check=True)  # noqa: S603
    linted = subprocess.run([ruff_cmd, "check", "--fix", "--quiet", str(path)], check=False)  # noqa: S603
    if linted.returncode:
        print(f"{path.name}: fix what ruff reports above", file=sys.stderr)
    print(f"wrote {path.relative_to(ROOT)}: read it and correct it before committing")
    return 0


if __name__ == "__main__":
    sys.exit(main())

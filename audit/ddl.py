"""Triggers that make the audit tables append-only in the database itself.

Any UPDATE or DELETE on an audit row (and TRUNCATE on PostgreSQL) is refused, whoever
sends it: the ORM, raw SQL, a console. The models attach these to ``create_all``; the
migration that introduced the tables creates the same triggers, and a test checks that the
two sets agree.
"""

from __future__ import annotations

from sqlalchemy import DDL

GUARDED_TABLES = ("audit_entries", "audit_checkpoints")

#: Raised by the PostgreSQL guard; SQLite's says the same.
MESSAGE = "the audit trail is append-only"

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % refused: {message}', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def guard_statements(
    table: str, dialect: str, *, message: str = MESSAGE, function: str = "audit_refuse_change"
) -> list[str]:
    """The SQL that guards ``table`` on ``dialect`` (``sqlite`` or ``postgresql``).

    Other append-only tables (the consent ledger) pass their own ``message`` and
    PostgreSQL trigger ``function``.
    """
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{op} on {table} refused: {message}'); END"
            for op in ("UPDATE", "DELETE")
        ]
    if dialect == "postgresql":
        return [
            PG_FUNCTION.format(function=function, message=message),
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        ]
    raise ValueError(f"no append-only guards for the {dialect} dialect")


def drop_statements(table: str, dialect: str) -> list[str]:
    """The SQL that removes the guards of ``table`` (downgrades, and tamper tests)."""
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_no_{op}" for op in ("update", "delete")]
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
    ]


def guard_ddl(table: str, **options: str) -> list[DDL]:
    """``after_create`` DDL for ``table``, one per statement, each for its dialect."""
    return [
        DDL(statement.replace("%", "%%")).execute_if(dialect=dialect)
        for dialect in ("sqlite", "postgresql")
        for statement in guard_statements(table, dialect, **options)
    ]

"""Policy test fixtures: the consent helpers, reused (a decision reads the ledger)."""

from tests.consent.conftest import decide, ledger_db, make_subject

__all__ = ["decide", "ledger_db", "make_subject"]

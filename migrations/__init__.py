"""Alembic migrations of the platform's database (see env.py)."""

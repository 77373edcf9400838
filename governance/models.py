"""Import every model so that ``Base.metadata`` is complete (Alembic, create_all, tests)."""

from __future__ import annotations

import consent.catalog.models
import governance.auth.models
import governance.profiles.models  # noqa: F401
from governance.db import Base

metadata = Base.metadata

__all__ = ["metadata"]

"""Import every model so that ``Base.metadata`` is complete (Alembic, create_all, tests)."""

from __future__ import annotations

import audit.models  # noqa: F401 - imported for its tables
import consent.catalog.models
import consent.models
import consent.webhooks.models  # noqa: F401
import federated.governance.models  # noqa: F401
import governance.auth.models
import governance.brands
import governance.profiles.models
import governance.requests.models  # noqa: F401
import policies.volume  # noqa: F401
from governance.db import Base

metadata = Base.metadata

__all__ = ["metadata"]

"""The one registry of permissions, what each role holds, and how endpoints declare theirs.

Every endpoint declares what it needs with :func:`requires` or :func:`public`; a request
to an endpoint that declares nothing is refused (fail closed), and a test walks the URL
map so that such an endpoint cannot ship.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_ATTR = "__governance_permission__"


class Role(StrEnum):
    """Operator roles."""

    DPO = "dpo"
    MARKETING = "marketing"
    CUSTOMER_SERVICE = "customer_service"
    ANALYST = "analyst"
    ADMIN = "admin"


class Permission(StrEnum):
    """Everything an endpoint can require."""

    AUTHENTICATED = "authenticated"  # any actor that is not anonymous
    CATALOG_READ = "catalog:read"
    CATALOG_MANAGE = "catalog:manage"
    API_KEYS_MANAGE = "api-keys:manage"
    OPERATORS_MANAGE = "operators:manage"
    PORTAL_LINKS_ISSUE = "portal-links:issue"
    CONSOLE_ACCESS = "console:access"
    PORTAL_ACCESS = "portal:access"
    AUDIT_READ = "audit:read"  # every entry, filters, exports, proofs
    AUDIT_PROOF = "audit:proof"  # checkpoints and proofs (a subject: own entries only)
    CONSENT_CHECK = "consent:check"  # ask whether consent is valid (purposes in scope)
    CONSENT_WRITE = "consent:write"  # record grants, withdrawals, refusals (a subject: own)
    CONSENT_READ = "consent:read"  # any subject's consent state, history and receipts
    WEBHOOKS_MANAGE = "webhooks:manage"  # consent-change subscriptions and dead letters
    POLICY_CHECK = "policy:check"  # policy decisions (batch API, OPA-compatible Data API)
    # The guarded read decides field by field; these only open the endpoints.
    PROFILE_READ = "profile:read"  # guarded reads of one subject
    PROFILE_WRITE = "profile:write"  # create subjects, set profile values (catalog, PII guard)
    PROFILE_EXPORT = "profile:export"  # consented-cohort exports (JSON Lines)
    FEDERATED_MANAGE = "federated:manage"  # partners, draft agreements, runs list
    FEDERATED_APPROVE = "federated:approve"  # approve or revoke agreements (DPO, step-up)
    # Data-subject requests (PIPL arts. 44-50): a customer files and follows their own; the
    # DPO works the queue (start, complete, reject, execute an erasure with step-up).
    SUBJECT_REQUESTS_OWN = "subject-requests:own"
    SUBJECT_REQUESTS_MANAGE = "subject-requests:manage"


class Public:
    """Marker for endpoints anyone may call (health, docs, login form)."""

    def __repr__(self) -> str:
        return "PUBLIC"


PUBLIC = Public()

_ALL_OPERATORS = {Permission.AUTHENTICATED, Permission.CONSOLE_ACCESS, Permission.CATALOG_READ}
# Roles whose work is reading customers' data for a purpose (the policy has the last word).
_READERS = _ALL_OPERATORS | {Permission.PROFILE_READ}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.DPO: frozenset(
        _ALL_OPERATORS
        | {
            Permission.CATALOG_MANAGE,
            Permission.AUDIT_READ,
            Permission.AUDIT_PROOF,
            Permission.CONSENT_READ,
            Permission.WEBHOOKS_MANAGE,
            Permission.SUBJECT_REQUESTS_MANAGE,
            Permission.FEDERATED_MANAGE,
            Permission.FEDERATED_APPROVE,
        }
    ),
    Role.MARKETING: frozenset(_READERS | {Permission.PROFILE_EXPORT}),
    # Customer service records consent on a customer's documented behalf (with evidence),
    # and keeps the customer's details up to date.
    Role.CUSTOMER_SERVICE: frozenset(
        _READERS
        | {
            Permission.PORTAL_LINKS_ISSUE,
            Permission.CONSENT_WRITE,
            Permission.CONSENT_READ,
            Permission.PROFILE_WRITE,
        }
    ),
    Role.ANALYST: frozenset(_READERS),
    Role.ADMIN: frozenset(
        _ALL_OPERATORS
        | {
            Permission.API_KEYS_MANAGE,
            Permission.OPERATORS_MANAGE,
            Permission.CATALOG_MANAGE,
            Permission.WEBHOOKS_MANAGE,
            Permission.FEDERATED_MANAGE,
        }
    ),
}

# What an API key may be granted; anything else is refused at key creation.
SERVICE_GRANTABLE: frozenset[Permission] = frozenset(
    {
        Permission.CATALOG_READ,
        Permission.PORTAL_LINKS_ISSUE,
        Permission.AUDIT_PROOF,
        Permission.CONSENT_CHECK,
        Permission.CONSENT_WRITE,
        Permission.POLICY_CHECK,
        Permission.PROFILE_READ,
        Permission.PROFILE_WRITE,
        Permission.PROFILE_EXPORT,
    }
)
SERVICE_DEFAULT: frozenset[Permission] = frozenset(
    {Permission.CATALOG_READ, Permission.PORTAL_LINKS_ISSUE}
)

SUBJECT_PERMISSIONS: frozenset[Permission] = frozenset(
    {
        Permission.AUTHENTICATED,
        Permission.PORTAL_ACCESS,
        Permission.AUDIT_PROOF,
        Permission.CONSENT_WRITE,
        Permission.SUBJECT_REQUESTS_OWN,
    }
)


def permissions_for_roles(roles: frozenset[Role] | set[Role]) -> frozenset[Permission]:
    """Union of the permissions of ``roles``."""
    out: set[Permission] = set()
    for role in roles:
        out |= ROLE_PERMISSIONS[role]
    return frozenset(out)


def requires(permission: Permission) -> Callable[[F], F]:
    """Declare the permission a view (function or MethodView method) needs."""

    def mark(view: F) -> F:
        setattr(view, _ATTR, permission)
        return view

    return mark


def public(view: F) -> F:
    """Declare a view that needs no authentication."""
    setattr(view, _ATTR, PUBLIC)
    return view


def declared_permission(view_func: Callable[..., Any], method: str) -> Permission | Public | None:
    """Return what ``view_func`` declares for ``method``, or None when it declares nothing."""
    declared = getattr(view_func, _ATTR, None)
    if declared is not None:
        return declared
    view_class = getattr(view_func, "view_class", None)
    if view_class is not None:
        handler = getattr(view_class, method.lower(), None)
        if handler is None and method == "HEAD":
            handler = getattr(view_class, "get", None)
        if handler is not None:
            return getattr(handler, _ATTR, None)
    return None


# Endpoints that Flask and extensions register themselves, public by nature.
BUILTIN_PUBLIC_ENDPOINTS = frozenset({"static", "api-docs.openapi_json"})

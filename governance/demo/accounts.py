"""Demo operators and a demo service key, and the private file holding their credentials.

Each demo operator gets a fresh random password and an enrolled TOTP secret when it is
created; nothing is a constant in the code. The credentials are written to
``<instance>/demo-credentials.txt`` (mode 0600, which ``.gitignore`` excludes with the
instance folder) and shown once on the terminal that created them. They never go to
the logs.

This is development tooling: the CLI refuses it when ``ENV`` is ``production``.
"""

from __future__ import annotations

import configparser
import io
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.catalog.models import Purpose
from governance.auth import services
from governance.auth.models import ApiKey, Operator
from governance.auth.permissions import Role
from governance.db import utcnow
from governance.keys import Keyring

__all__ = [
    "CREDENTIALS_FILE",
    "DEMO_API_KEY_NAME",
    "DEMO_OPERATORS",
    "DemoCredentials",
    "ensure_demo_accounts",
    "read_credentials",
    "write_credentials",
]

CREDENTIALS_FILE = "demo-credentials.txt"
DEMO_API_KEY_NAME = "demo-service"
DEMO_OPERATORS: dict[str, Role] = {
    "demo-dpo": Role.DPO,
    "demo-admin": Role.ADMIN,
    "demo-marketing": Role.MARKETING,
    "demo-cs": Role.CUSTOMER_SERVICE,
    "demo-analyst": Role.ANALYST,
}
_DISPLAY_NAMES = {
    "demo-dpo": "Demo DPO",
    "demo-admin": "Demo administrator",
    "demo-marketing": "Demo marketing",
    "demo-cs": "Demo customer service",
    "demo-analyst": "Demo analyst",
}

_HEADER = """\
# Demo credentials: development only. Keep this file private (mode 0600).
# Sign in at /console/login with a username and password; for the second factor, add the
# TOTP secret to an authenticator app or run `governance demo totp USERNAME`.
# Services call the API with the header 'Authorization: Bearer <token>'.
"""


@dataclass(frozen=True)
class OperatorCredentials:
    """A demo operator's sign-in secrets."""

    username: str
    role: str
    password: str
    totp_secret: str


@dataclass
class DemoCredentials:
    """Demo credentials by name (what the credentials file holds)."""

    operators: dict[str, OperatorCredentials] = field(default_factory=dict)
    api_key_token: str | None = None

    def is_empty(self) -> bool:
        """True if there is nothing to show."""
        return not self.operators and self.api_key_token is None

    def render(self) -> str:
        """The credentials as the text of the credentials file."""
        parser = configparser.RawConfigParser()
        for username in sorted(self.operators):
            cred = self.operators[username]
            parser[f"operator {username}"] = {
                "role": cred.role,
                "password": cred.password,
                "totp_secret": cred.totp_secret,
            }
        if self.api_key_token is not None:
            parser[f"api-key {DEMO_API_KEY_NAME}"] = {"token": self.api_key_token}
        out = io.StringIO()
        parser.write(out)
        return _HEADER + "\n" + out.getvalue().rstrip() + "\n"


def credentials_path(instance_path: str | Path) -> Path:
    """Where the credentials file lives."""
    return Path(instance_path) / CREDENTIALS_FILE


def read_credentials(path: Path) -> DemoCredentials:
    """Parse a credentials file; a missing or unreadable file gives empty credentials."""
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(path.read_text(encoding="utf-8"))
    except (OSError, configparser.Error):
        return DemoCredentials()
    creds = DemoCredentials()
    for section in parser.sections():
        kind, _, name = section.partition(" ")
        sec = parser[section]
        if kind == "operator" and {"role", "password", "totp_secret"} <= set(sec):
            creds.operators[name] = OperatorCredentials(
                name, sec["role"], sec["password"], sec["totp_secret"]
            )
        elif kind == "api-key" and name == DEMO_API_KEY_NAME and "token" in sec:
            creds.api_key_token = sec["token"]
    return creds


def write_credentials(path: Path, creds: DemoCredentials) -> None:
    """Write the credentials file with mode 0600 (replacing any earlier one atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(creds.render())
        os.chmod(tmp, 0o600)  # in case the umask interfered
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def new_password() -> str:
    """A random password of 24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)


def _enrol(operator: Operator, keyring: Keyring) -> str:
    services.start_totp_enrolment(operator, keyring)
    operator.totp_enabled_at = utcnow()
    return services.totp_secret(operator, keyring)


def ensure_demo_accounts(db: Session, keyring: Keyring, *, reset: bool = False) -> DemoCredentials:
    """Create the missing demo operators and the demo service key; return what was made.

    With ``reset``, existing demo operators get a new password and TOTP secret and the
    demo key is replaced (the old one revoked): the way back when the file was lost.
    The caller commits.
    """
    made = DemoCredentials()
    existing = {
        op.username: op
        for op in db.scalars(select(Operator).where(Operator.username.in_(DEMO_OPERATORS)))
    }
    for username, role in DEMO_OPERATORS.items():
        password = new_password()
        operator = existing.get(username)
        if operator is None:
            operator = services.create_operator(
                db, username, password, [role.value], _DISPLAY_NAMES[username]
            )
        elif reset:
            services.set_password(operator, password)
        else:
            continue
        made.operators[username] = OperatorCredentials(
            username, role.value, password, _enrol(operator, keyring)
        )
    live_keys = list(
        db.scalars(
            select(ApiKey).where(ApiKey.name == DEMO_API_KEY_NAME, ApiKey.revoked_at.is_(None))
        )
    )
    if reset:
        for key in live_keys:
            key.revoked_at = utcnow()
    if reset or not live_keys:
        purposes = sorted(db.scalars(select(Purpose.id)))
        new = services.create_api_key(
            db, DEMO_API_KEY_NAME, purposes, None, known_purposes=set(purposes)
        )
        made.api_key_token = new.token
    return made


def merge(old: DemoCredentials, new: DemoCredentials) -> DemoCredentials:
    """``old`` updated with ``new`` (what the file holds after creating ``new``)."""
    return DemoCredentials(
        operators={**old.operators, **new.operators},
        api_key_token=new.api_key_token or old.api_key_token,
    )

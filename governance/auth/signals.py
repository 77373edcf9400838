"""Hook points for authentication events; the audit trail subscribes to them.

Receivers get ids and reasons only, never a username, password, code or key.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: Sent on every failed password or TOTP check. kwargs: reason, and operator_id if known.
login_failed = _signals.signal("login-failed")
#: Sent when an operator signs in. kwargs: operator_id.
login_succeeded = _signals.signal("login-succeeded")

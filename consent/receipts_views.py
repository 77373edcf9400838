"""The public key set that verifies consent receipts, at a well-known address.

``GET /.well-known/governance-consent-jwks.json`` needs no sign-in: a customer, a
regulator or any service fetches it once and checks receipts offline
(:func:`consent.receipts.verify`, or any JOSE library with EdDSA).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from flask.views import MethodView
from marshmallow import Schema, fields

from consent import receipts
from governance.api import Blueprint, get_api
from governance.auth.permissions import public

#: Keys change rarely (a rotation); verifiers may keep the set for an hour.
KEY_CACHE_SECONDS = 3600

blp = Blueprint(
    "consent_receipts_public",
    __name__,
    description="The public keys of consent receipts (JWKS), for verifying them offline",
)


class JwkSchema(Schema):
    """An Ed25519 public key as an OKP JSON Web Key (RFC 8037)."""

    kty = fields.String(metadata={"description": "OKP", "example": "OKP"})
    crv = fields.String(metadata={"description": "Ed25519", "example": "Ed25519"})
    x = fields.String(metadata={"description": "the 32-byte public key, base64url"})
    kid = fields.String(metadata={"description": "the key id receipts name in their header"})
    use = fields.String(metadata={"example": "sig"})
    alg = fields.String(metadata={"example": "EdDSA"})


class JwkSetSchema(Schema):
    """A JSON Web Key Set (RFC 7517)."""

    keys = fields.List(fields.Nested(JwkSchema))


@blp.route("/.well-known/governance-consent-jwks.json", endpoint="jwks")
class ReceiptKeys(MethodView):
    """The keys that sign consent receipts."""

    @public
    @blp.doc(security=[])
    @blp.response(200, JwkSetSchema)
    def get(self) -> tuple[dict[str, Any], int, dict[str, str]]:
        """The receipt-signing public keys as a JWKS; no sign-in needed.

        A receipt is a compact JWS whose header names its key by ``kid``; verify it with
        the matching key (EdDSA, Ed25519).
        """
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        headers = {
            "Cache-Control": f"public, max-age={KEY_CACHE_SECONDS}",
            "Access-Control-Allow-Origin": "*",  # browsers on other sites may verify too
        }
        return receipts.jwks(app), 200, headers


def init_app(app: Flask) -> None:
    """Register the well-known receipt key set."""
    get_api(app).register_blueprint(blp)

"""Request and response schemas of the identity API (they generate its OpenAPI)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class WhoAmISchema(Schema):
    """The actor making the request."""

    type = fields.String(metadata={"description": "operator, service or subject"})
    id = fields.String()
    roles = fields.List(fields.String())
    permissions = fields.List(fields.String())
    purposes = fields.List(fields.String(), metadata={"description": "a service's scope"})
    brand = fields.String(
        allow_none=True,
        metadata={"description": "the brand acted for; null: the whole group, or a customer"},
    )
    csrf_token = fields.String(
        metadata={"description": "send as X-CSRFToken on changes made with a session cookie"}
    )


class ApiKeyCreateSchema(Schema):
    """What an administrator asks for when creating a service key."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=128))
    purposes = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        required=True,
        validate=validate.Length(max=100),
    )
    permissions = fields.List(fields.String(), load_default=None)
    brand = fields.String(
        validate=validate.Length(min=1, max=32),
        metadata={"description": "the brand whose subjects the key sees; default: your own"},
    )


class ApiKeySchema(Schema):
    """A key as listed (never its secret)."""

    id = fields.String()
    name = fields.String()
    brand = fields.String()
    purposes = fields.List(fields.String())
    permissions = fields.List(fields.String())
    created_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True)


class ApiKeyCreatedSchema(ApiKeySchema):
    """A new key, with its token: shown in this response only."""

    token = fields.String(metadata={"description": "shown once; store it in a secret manager"})


class PortalLinkRequestSchema(Schema):
    """Ask for a one-time portal link for a subject."""

    subject_id = fields.String(required=True, validate=validate.Length(min=1, max=40))


class PortalLinkSchema(Schema):
    """A signed, short-lived, single-use portal link."""

    url = fields.String()
    expires_at = fields.DateTime()

"""Partners, agreements and runs over the JSON API (the DPO's side of federated modelling)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.views import MethodView
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import select

from federated.governance import services
from federated.governance.models import Agreement, FederatedRun, Partner
from governance.api import Blueprint, get_api
from governance.auth.actors import current_actor
from governance.auth.permissions import Permission, requires
from governance.brands import brand_for_new
from governance.db import get_session
from governance.errors import ApiError

blp = Blueprint(
    "federated",
    __name__,
    url_prefix="/api/v1/federated",
    description="Federated modelling: partners, data-sharing agreements, runs and models",
)
_NAME = validate.Length(min=1, max=64)


class _Strict(Schema):
    class Meta:
        """Refuse unknown fields."""

        unknown = RAISE


class PartnerInSchema(_Strict):
    """A partner to register."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=128))
    contact = fields.String(required=True, validate=validate.Length(min=1, max=256))
    supernode_public_key = fields.String(
        required=True, validate=validate.Length(min=1, max=4096), metadata={"description": "PEM"}
    )
    brand = fields.String(load_default=None)


class PartnerSchema(Schema):
    """A registered partner."""

    id = fields.String()
    name = fields.String()
    brand_id = fields.String(data_key="brand")
    supernode_key_sha256 = fields.String()
    created_at = fields.DateTime()


class AgreementInSchema(_Strict):
    """A draft agreement."""

    partner = fields.String(required=True, validate=_NAME)
    purpose = fields.String(required=True, validate=_NAME)
    fields_ = fields.List(
        fields.String(validate=_NAME),
        data_key="fields",
        required=True,
        validate=validate.Length(min=2, max=100),
    )
    label_field = fields.String(required=True, validate=_NAME)
    valid_from = fields.Date(required=True)
    valid_until = fields.Date(required=True)
    secagg_required = fields.Boolean(load_default=True)
    dp_required = fields.Boolean(load_default=True)
    dp_noise_multiplier = fields.Float(load_default=1.0, allow_nan=False)
    dp_clipping_norm = fields.Float(load_default=1.0, allow_nan=False)


class AgreementSchema(Schema):
    """An agreement."""

    id = fields.String()
    partner_id = fields.String(data_key="partner")
    purpose = fields.String()
    categories = fields.List(fields.String())
    fields_ = fields.List(fields.String(), attribute="fields", data_key="fields")
    label_field = fields.String()
    valid_from = fields.Date()
    valid_until = fields.Date()
    secagg_required = fields.Boolean()
    dp_required = fields.Boolean()
    dp_noise_multiplier = fields.Float()
    dp_clipping_norm = fields.Float()
    status = fields.String(metadata={"description": "draft / approved / revoked"})
    approved_by = fields.String(allow_none=True)
    approved_at = fields.DateTime(allow_none=True)


class RunSchema(Schema):
    """A run and, when complete, the registered model's lineage."""

    id = fields.String()
    agreement_id = fields.String(data_key="agreement")
    mode = fields.String()
    status = fields.String()
    reasons = fields.List(fields.String())
    participants = fields.List(fields.String())
    cohort_sizes = fields.Dict()
    manifest_sha256 = fields.Dict()
    policy_bundle_hash = fields.String(allow_none=True)
    privacy = fields.Dict()
    metrics = fields.Dict()
    model_sha256 = fields.String(allow_none=True)
    started_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


def _visible_partner(partner: Partner | None) -> Partner:
    actor = current_actor()
    if partner is None or (actor.brand is not None and partner.brand_id != actor.brand):
        raise ApiError("not-found", "No such partner.")
    return partner


def _visible_agreement(agreement_id: str) -> Agreement:
    session = get_session()
    agreement = session.get(Agreement, agreement_id)
    if agreement is None:
        raise ApiError("not-found", "No such agreement.")
    _visible_partner(session.get(Partner, agreement.partner_id))
    return agreement


@blp.route("/partners")
class Partners(MethodView):
    """Partners."""

    @requires(Permission.FEDERATED_MANAGE)
    @blp.response(200, PartnerSchema(many=True))
    def get(self) -> list[Partner]:
        """The partners of the caller's brand (all, for the group)."""
        actor = current_actor()
        query = select(Partner).order_by(Partner.created_at, Partner.id)
        if actor.brand is not None:
            query = query.where(Partner.brand_id == actor.brand)
        return list(get_session().scalars(query))

    @requires(Permission.FEDERATED_MANAGE)
    @blp.arguments(PartnerInSchema)
    @blp.response(201, PartnerSchema)
    def post(self, body: dict[str, Any]) -> Partner:
        """Register a partner and its SuperNode's public key (PEM)."""
        session = get_session()
        brand = brand_for_new(session, current_actor().brand, body.pop("brand"))
        partner = services.register_partner(session, brand=brand, **body)
        session.commit()
        return partner


@blp.route("/agreements")
class Agreements(MethodView):
    """Data-sharing agreements."""

    @requires(Permission.FEDERATED_MANAGE)
    @blp.response(200, AgreementSchema(many=True))
    def get(self) -> list[Agreement]:
        """Agreements of the caller's brand's partners."""
        actor = current_actor()
        query = (
            select(Agreement)
            .join(Partner, Partner.id == Agreement.partner_id)
            .order_by(Agreement.created_at, Agreement.id)
        )
        if actor.brand is not None:
            query = query.where(Partner.brand_id == actor.brand)
        return list(get_session().scalars(query))

    @requires(Permission.FEDERATED_MANAGE)
    @blp.arguments(AgreementInSchema)
    @blp.response(201, AgreementSchema)
    def post(self, body: dict[str, Any]) -> Agreement:
        """Draft an agreement for a joint-modelling purpose (a DPO approves it)."""
        session = get_session()
        _visible_partner(session.get(Partner, body["partner"]))
        agreement = services.create_agreement(
            session,
            partner_id=body["partner"],
            purpose=body["purpose"],
            fields=body["fields_"],
            label_field=body["label_field"],
            valid_from=body["valid_from"],
            valid_until=body["valid_until"],
            secagg_required=body["secagg_required"],
            dp_required=body["dp_required"],
            dp_noise_multiplier=body["dp_noise_multiplier"],
            dp_clipping_norm=body["dp_clipping_norm"],
        )
        session.commit()
        return agreement


@blp.route("/agreements/<agreement_id>/approve")
class Approve(MethodView):
    """Approve a draft."""

    @requires(Permission.FEDERATED_APPROVE)
    @blp.response(200, AgreementSchema)
    def post(self, agreement_id: str) -> Agreement:
        """Approve (a DPO with a second factor entered in the last five minutes)."""
        _visible_agreement(agreement_id)
        session = get_session()
        agreement = services.approve_agreement(session, agreement_id, actor=current_actor())
        session.commit()
        return agreement


@blp.route("/agreements/<agreement_id>/revoke")
class Revoke(MethodView):
    """Revoke an agreement."""

    @requires(Permission.FEDERATED_APPROVE)
    @blp.response(200, AgreementSchema)
    def post(self, agreement_id: str) -> Agreement:
        """Revoke: no run starts under it any more."""
        _visible_agreement(agreement_id)
        session = get_session()
        agreement = services.revoke_agreement(session, agreement_id)
        session.commit()
        return agreement


@blp.route("/runs")
class Runs(MethodView):
    """Runs and the model registry."""

    @requires(Permission.FEDERATED_MANAGE)
    @blp.response(200, RunSchema(many=True))
    def get(self) -> list[FederatedRun]:
        """Runs, newest first (refused ones included, with their reasons), at most 200."""
        actor = current_actor()
        query = (
            select(FederatedRun)
            .join(Agreement, Agreement.id == FederatedRun.agreement_id)
            .join(Partner, Partner.id == Agreement.partner_id)
            .order_by(FederatedRun.started_at.desc(), FederatedRun.id)
            .limit(200)
        )
        if actor.brand is not None:
            query = query.where(Partner.brand_id == actor.brand)
        return list(get_session().scalars(query))


def init_app(app: Flask) -> None:
    """Register the API."""
    get_api(app).register_blueprint(blp)

"""Policy-check API: batch decisions for services, and an OPA-compatible Data API.

``POST /api/v1/policy/decisions`` answers many (subject, purpose, fields) questions at
once. The platform assembles each decision's input itself (:mod:`policies.inputs`): the
caller's roles and scope come from its credentials and the consent state from the ledger.
Every decision is an audit entry (ids, field names and reasons; never a value).

``POST /v1/data/<package path>/<rule>`` with ``{"input": ...}`` answers
``{"result": ...}`` the way OPA's Data API does, so a service that already uses an OPA
client (opa-python-client included) can ask the platform unchanged. The caller supplies
the whole input there, so the answer is only an evaluation of the policy: it opens no
data (the guarded read assembles its own input). ``PUT /v1/policies/<id>`` and
``PUT /v1/data/<path>`` accept only what is already loaded: policies change through
reviewed files, never over HTTP; that lets an OPA client that pushes the same bundle at
start-up (``GOVERNANCE_POLICY_ENGINE=opa`` pointed here) check it is in sync.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, request
from flask.views import MethodView
from marshmallow import RAISE, Schema, fields, validate

import audit
import policies
from governance.api import Blueprint, get_api
from governance.auth.actors import current_actor
from governance.auth.permissions import Permission, requires
from governance.db import get_session, utcnow
from governance.errors import ApiError
from policies import volume
from policies.engine import ENGINE_ERROR, Decision, EmbeddedEngine, FieldDecision
from policies.inputs import DECIDE_ACTION, Question, assemble, audit_details

MAX_QUESTIONS = 1000
_SUBJECT_ID = r"^sub_[A-Za-z0-9_-]{22}$"

blp = Blueprint(
    "policy",
    __name__,
    url_prefix="/api/v1/policy",
    description="Policy decisions: may this actor use these fields for this purpose",
)
opa_blp = Blueprint(
    "opa",
    __name__,
    url_prefix="/v1",
    description="OPA-compatible Data API (for existing OPA clients)",
)


class PolicyQuestionSchema(Schema):
    """One question."""

    class Meta:
        """Refuse unknown fields."""

        unknown = RAISE

    subject = fields.String(required=True, validate=validate.Regexp(_SUBJECT_ID))
    purpose = fields.String(required=True, validate=validate.Length(min=1, max=64))
    fields_ = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        data_key="fields",
        required=True,
        validate=validate.Length(min=1, max=100),
    )


class PolicyDecisionsRequestSchema(Schema):
    """Up to 1,000 questions."""

    class Meta:
        """Refuse unknown fields."""

        unknown = RAISE

    questions = fields.List(
        fields.Nested(PolicyQuestionSchema),
        required=True,
        validate=validate.Length(min=1, max=1000),
    )


class PolicyFieldDecisionSchema(Schema):
    """One field's decision."""

    allow = fields.Boolean()
    reasons = fields.List(fields.String())
    obligations = fields.List(fields.Dict())


class PolicyAnswerSchema(Schema):
    """The decision for one question."""

    subject = fields.String()
    purpose = fields.String()
    fields_ = fields.Dict(
        keys=fields.String(), values=fields.Nested(PolicyFieldDecisionSchema), data_key="fields"
    )
    flags = fields.List(fields.String())


class PolicyDecisionsSchema(Schema):
    """The decisions, in the order asked, and the bundle that made them."""

    bundle_hash = fields.String(metadata={"description": "SHA-256 of the policies and data"})
    results = fields.List(fields.Nested(PolicyAnswerSchema))


def _answer(question: Question, decision: Decision) -> dict[str, Any]:
    return {
        "subject": question.subject,
        "purpose": question.purpose,
        "fields_": {name: d.to_json() for name, d in decision.fields.items()},
        "flags": list(decision.flags),
    }


def _entry(question: Question, decision: Decision) -> dict[str, Any]:
    """The audit entry of one decision: ids, field names and reasons, never a value."""
    denied = {r for d in decision.fields.values() for r in d.reasons}
    verdict = "error" if decision.error else ("allow" if decision.allowed else "deny")
    return {
        "action": DECIDE_ACTION,
        "decision": verdict,
        "subject": question.subject,
        "purpose": question.purpose,
        "reasons": sorted(denied),
        "policy_hash": decision.bundle_hash,
        "details": audit_details(question, decision.to_json()),
    }


@blp.route("/decisions")
class Decisions(MethodView):
    """Batch policy decisions."""

    @requires(Permission.POLICY_CHECK)
    @blp.arguments(PolicyDecisionsRequestSchema)
    @blp.response(200, PolicyDecisionsSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(403, response="FORBIDDEN")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Decide every question, field by field, with reasons and obligations; all audited.

        A subject the caller cannot see (another brand's, erased, or none) gets every
        field denied with ``unknown_subject``.
        """
        actor = current_actor()
        questions = [
            Question(q["subject"], q["purpose"], tuple(q["fields_"])) for q in body["questions"]
        ]
        session = get_session()
        now = utcnow()
        assembled = assemble(session, actor, questions, now=now)
        service = policies.service()
        decisions: list[Decision] = []
        for n, question in enumerate(questions):
            if n in assembled.unknown_subjects:
                denied = FieldDecision(False, ("unknown_subject",))
                decisions.append(
                    Decision({f: denied for f in question.fields}, service.bundle_hash)
                )
            else:
                decisions.append(service.decide(assembled.inputs[n]))
        volume.add(session, actor.type, actor.id, now, requests=len(questions))
        audit.record_many(
            session, [_entry(q, d) for q, d in zip(questions, decisions, strict=True)]
        )
        session.commit()
        return {
            "bundle_hash": service.bundle_hash,
            "results": [_answer(q, d) for q, d in zip(questions, decisions, strict=True)],
        }


# -- OPA-compatible Data API ------------------------------------------------------------------


def _opa_error(status: int, code: str, message: str) -> tuple[dict[str, str], int]:
    return {"code": code, "message": message}, status


@opa_blp.route("/data/<path:path>", methods=["POST"])
@requires(Permission.POLICY_CHECK)
@opa_blp.doc(
    summary="Evaluate a rule (OPA Data API)",
    description='Body `{"input": {...}}`; answers `{"result": ...}`, or `{}` when the '
    "rule is undefined for the input (as OPA does).",
)
def opa_data(path: str) -> Any:
    """Evaluate ``data.<path>`` for the posted input, as OPA's Data API does."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("input", {}), dict):
        return _opa_error(400, "invalid_parameter", 'The body must be {"input": {...}}.')
    policy_input = body.get("input", {})
    engine = policies.get_engine()
    entrypoint = path.strip("/")
    session = get_session()
    try:
        if not isinstance(engine, EmbeddedEngine):
            raise ApiError("conflict", "The Data API evaluates the embedded engine only.")
        result = engine.evaluate(entrypoint, policy_input)
        outcome = "allow"
    except ApiError:
        raise
    except Exception:
        result, outcome = None, "deny"
    # What is recorded: the rule asked and the shape of the answer. The caller wrote the
    # input, so nothing of it (not even field names) goes into the audit trail.
    audit.record(
        session,
        action="policy.query",
        decision=outcome,
        resource=f"policy:{entrypoint}"[:128],
        reasons=[] if outcome == "allow" else [ENGINE_ERROR],
        policy_hash=engine.bundle_hash,
        details={"defined": result is not None},
    )
    session.commit()
    return ({} if result is None else {"result": result}), 200


@opa_blp.route("/policies/<path:policy_id>", methods=["PUT"])
@requires(Permission.POLICY_CHECK)
def opa_put_policy(policy_id: str) -> Any:
    """Accept a policy only if it is exactly the one loaded (policies change as files)."""
    text = request.get_data(as_text=True)
    loaded = policies.get_engine()
    modules = getattr(getattr(loaded, "source", None), "modules", {})
    if text.strip() and any(text.strip() == m.strip() for m in modules.values()):
        return {}, 200
    return _opa_error(
        403, "forbidden", "Policies change through reviewed files, not over HTTP; not loaded."
    )


@opa_blp.route("/data/<path:path>", methods=["PUT"])
@requires(Permission.POLICY_CHECK)
def opa_put_data(path: str) -> Any:
    """Accept data only if it is exactly the document loaded at ``path``."""
    node: Any = getattr(getattr(policies.get_engine(), "source", None), "data", {})
    for part in path.strip("/").split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    pushed = request.get_json(silent=True)
    if node is not None and json.dumps(pushed, sort_keys=True) == json.dumps(node, sort_keys=True):
        return "", 204
    return _opa_error(
        403, "forbidden", "Policy data changes through reviewed files, not over HTTP."
    )


def init_app(app: Flask) -> None:
    """Register the policy API and the OPA-compatible Data API."""
    api = get_api(app)
    api.register_blueprint(blp)
    api.register_blueprint(opa_blp)

"""No second door: every route and command that reveals profile values is the guarded read.

Three checks. Decryption is refused outside the guarded read's context, and only
``governance/profiles/guarded.py`` enters that context (read from the source). Every
endpoint and command listed as revealing is exercised here and is seen to decrypt
through the guarded read. Every other GET endpoint is called as each kind of actor with
distinctive values seeded in a profile, and none of them returns one.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from flask import Flask

from consent import ledger
from governance.auth.permissions import SERVICE_GRANTABLE
from governance.db import get_session
from governance.profiles import guarded
from governance.profiles.crypto import RevealRefused, profile_crypto
from governance.profiles.models import ProfileValue
from governance.profiles.store import create_subject
from governance.profiles.vault import SubjectKey
from tests.consent.conftest import CURRENT_NOTICE, EVIDENCE

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("governance", "consent", "audit", "policies", "federated")
#: Distinctive values: if any route or command returns one, it revealed profile data.
CANARIES = {
    "city": "Canary-城市-7Q",
    "nickname": "Canary-昵称-7Q",
    "mobile": "10077770077",
    "email": "canary.7q@example.com",
    "service_notes": "Canary note 7Q",
}


def _decoded(text: str) -> str:
    r"""``text`` with JSON's ``\uXXXX`` escapes undone (line by line for JSON Lines)."""
    out = [text]
    for line in text.splitlines():
        try:
            out.append(json.dumps(json.loads(line), ensure_ascii=False))
        except ValueError:
            continue
    return "\n".join(out)


def _canaries_in(text: str) -> list[str]:
    decoded = _decoded(text)
    return [value for value in CANARIES.values() if value in decoded]


# -- 1. decryption only inside the guarded read ----------------------------------------------


def test_decryption_outside_the_guarded_read_is_refused(app: Flask, catalog: Any) -> None:
    with app.app_context():
        session = get_session()
        subject = create_subject(session, {"city": CANARIES["city"]})
        session.commit()
        key = session.get(SubjectKey, subject)
        row = session.get(ProfileValue, (subject, "city"))
        assert key is not None and row is not None
        cipher = profile_crypto().open_subject_key(subject, key.key_version, key.wrapped_key)
        with pytest.raises(RevealRefused):
            cipher.decrypt("city", bytes(row.ciphertext))


def _enters_revealing(tree: ast.AST) -> list[int]:
    """Lines that call ``revealing()`` or set the context variable behind it."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            target = func.value if isinstance(func, ast.Attribute) else None
            if name == "revealing" or (
                name == "set" and isinstance(target, ast.Name) and target.id == "_REVEALING"
            ):
                found.append(node.lineno)
    return found


def test_only_the_guarded_read_enters_the_decryption_context() -> None:
    allowed = {
        "governance/profiles/guarded.py",  # the guarded read
        "governance/profiles/crypto.py",  # where the context is defined
    }
    entering = {}
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            lines = _enters_revealing(ast.parse(path.read_text(encoding="utf-8")))
            if lines:
                entering[rel] = lines
    assert set(entering) <= allowed, entering
    assert "governance/profiles/guarded.py" in entering


def test_the_source_check_finds_a_second_door() -> None:
    door = "from governance.profiles.crypto import revealing\nwith revealing():\n    pass\n"
    assert _enters_revealing(ast.parse(door)) == [2]


# -- 2. the revealing routes and commands go through the guarded read ------------------------


@pytest.fixture
def canary(app: Flask, catalog: Any) -> Iterator[str]:
    """A customer with distinctive values who granted marketing and analytics."""
    with app.app_context():
        session = get_session()
        subject = create_subject(session, CANARIES)
        session.flush()
        for purpose in ("marketing_push", "analytics"):
            ledger.record(
                session,
                ledger.Change(
                    subject=subject,
                    purposes=(purpose,),
                    kind="grant",
                    channel="portal",
                    acted_by="subject",
                    actor_id=subject,
                    tier="behaviour",
                    notice_version=CURRENT_NOTICE,
                    evidence_sha256=EVIDENCE,
                ),
                now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5),
            )
        session.commit()
        yield subject


@pytest.fixture
def decryptions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every decryption site of the guarded read, counted (read and export)."""
    calls: list[str] = []
    real_open, real_page = guarded._open, guarded._page_lines

    def counted_open(*args: Any, **kwargs: Any) -> Any:
        calls.append("read")
        return real_open(*args, **kwargs)

    def counted_page(*args: Any, **kwargs: Any) -> Any:
        calls.append("export")
        return real_page(*args, **kwargs)

    monkeypatch.setattr(guarded, "_open", counted_open)
    monkeypatch.setattr(guarded, "_page_lines", counted_page)
    return calls


def _all_powerful_service(as_service: Any) -> Any:
    return as_service(["marketing_push", "analytics"], sorted(p.value for p in SERVICE_GRANTABLE))


def _read(app: Flask, subject: str, as_service: Any, tmp_path: Path) -> str:
    resp = _all_powerful_service(as_service).post(
        f"/api/v1/profiles/{subject}/read",
        json={"purpose": "marketing_push", "fields": ["city", "nickname"]},
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_data(as_text=True)


def _export(app: Flask, subject: str, as_service: Any, tmp_path: Path) -> str:
    resp = _all_powerful_service(as_service).post(
        "/api/v1/profiles/exports", json={"purpose": "marketing_push", "fields": ["city"]}
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_data(as_text=True)


def _export_command(app: Flask, subject: str, as_service: Any, tmp_path: Path) -> str:
    from governance.auth import services

    with app.app_context():
        session = get_session()
        key = services.create_api_key(
            session,
            "cli export",
            ["marketing_push"],
            ["profile:export"],
            known_purposes={"marketing_push"},
        )
        session.commit()
    out = tmp_path / "cohort.jsonl"
    result = app.test_cli_runner().invoke(
        args=[
            "profiles",
            "export",
            "--as-service",
            key.key.id,
            "--purpose",
            "marketing_push",
            "--field",
            "city",
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def _own_copy(app: Flask, subject: str, as_service: Any, tmp_path: Path) -> str:
    """The customer's copy of their data (a data-subject access request)."""
    from tests.conftest import ActorClient

    client = app.test_client()
    with client.session_transaction() as sess:
        from governance.auth import services

        sess.update(actor_type="subject", actor_id=subject, expires_at=services.session_expiry(30))
    customer = ActorClient(client)
    filed = customer.post(f"/api/v1/subjects/{subject}/requests", json={"kind": "access"})
    assert filed.status_code == 201, filed.get_data(as_text=True)
    copy = customer.get(f"/api/v1/subjects/{subject}/requests/{filed.get_json()['id']}/export")
    assert copy.status_code == 200, copy.get_data(as_text=True)
    return copy.get_data(as_text=True)


EXERCISES: dict[str, Callable[[Flask, str, Any, Path], str]] = {
    "profiles.ProfileRead": _read,
    "profiles.Exports": _export,
    "subject_requests.OwnExport": _own_copy,
    "profiles export": _export_command,
}


def test_every_revealing_route_and_command_has_an_exercise() -> None:
    assert set(EXERCISES) == guarded.REVEALING_ENDPOINTS | guarded.REVEALING_COMMANDS


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_each_revealing_route_and_command_decrypts_through_the_guarded_read(
    app: Flask,
    canary: str,
    as_service: Any,
    decryptions: list[str],
    tmp_path: Path,
    name: str,
) -> None:
    output = EXERCISES[name](app, canary, as_service, tmp_path)
    assert CANARIES["city"] in _canaries_in(output)  # it revealed the value...
    assert decryptions  # ...and did so through the guarded read


def _commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from _commands(command, full + " ")
        else:
            yield full, command


def test_the_revealing_commands_are_exactly_those_that_call_the_guarded_read(app: Flask) -> None:
    import inspect

    calling = set()
    for name, command in _commands(app.cli):
        callback = inspect.unwrap(command.callback) if command.callback else None
        if callback is None:
            continue
        source = inspect.getsource(callback)
        if re.search(r"\b(read_profile|export_cohort)\(", source):
            calling.add(name)
    assert calling == set(guarded.REVEALING_COMMANDS)


# -- 3. no other route reveals a value ---------------------------------------------------------


def _fill(rule: Any, subject: str, request_id: str) -> str | None:
    """The rule's path with its variables filled (the customer's ids where asked)."""
    path = rule.rule
    for name, converter in rule._converters.items():
        kind = type(converter).__name__
        if "subject" in name:
            value = subject
        elif name == "request_id":
            value = request_id
        elif kind == "IntegerConverter":
            value = "0"
        elif kind == "PathConverter":
            value = "governance/access/decision"
        else:
            value = "x"
        path = re.sub(rf"<(?:[^:<>]+:)?{name}>", value, path)
    return path


def test_no_other_get_route_returns_a_profile_value(
    app: Flask,
    canary: str,
    as_service: Any,
    as_operator: Any,
    as_subject: Any,
    decryptions: list[str],
) -> None:
    # Read once through the guarded read, so audit entries, exports and proofs about the
    # customer exist for the other routes to show (they must show ids, never values).
    _read(app, canary, as_service, Path("."))
    # And a data-subject request of theirs, so its routes have something to show.
    filed = as_subject(canary).post(f"/api/v1/subjects/{canary}/requests", json={"kind": "access"})
    assert filed.status_code == 201, filed.get_data(as_text=True)
    request_id = filed.get_json()["id"]
    decryptions.clear()
    actors = {
        "dpo": as_operator("dpo"),
        "admin": as_operator("admin"),
        "customer_service": as_operator("customer_service"),
        "service": _all_powerful_service(as_service),
        "subject": as_subject(canary),
    }
    called = 0
    leaks = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in guarded.REVEALING_ENDPOINTS or "GET" not in (rule.methods or ()):
            continue
        path = _fill(rule, canary, request_id)
        for who, client in actors.items():
            resp = client.get(path)
            called += 1
            body = resp.get_data(as_text=True)
            found = _canaries_in(body)
            if found:
                leaks.append(f"GET {path} as {who}: {found}")
    assert called > 50
    assert leaks == []
    assert decryptions == []


def test_the_route_walk_would_see_a_leak(app: Flask, canary: str, as_operator: Any) -> None:
    from governance.auth.permissions import Permission, requires

    @app.get("/api/v1/leaky")
    @requires(Permission.AUTHENTICATED)
    def leaky() -> Any:
        return CANARIES  # as JSON, escaped: the walk decodes it

    body = as_operator("dpo").get("/api/v1/leaky").get_data(as_text=True)
    assert _canaries_in(body)

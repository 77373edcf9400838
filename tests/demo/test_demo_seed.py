"""``governance demo seed``: deterministic, additive, encrypted, refuses without a catalog."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from governance.demo.fake import CustomerFactory
from governance.profiles.models import BlindIndex, Subject


def counts(app: Flask) -> tuple[int, int]:
    from governance.db import get_session

    with app.app_context():
        db = get_session()
        subjects = db.scalar(select(func.count()).select_from(Subject)) or 0
        mobiles = (
            db.scalar(
                select(func.count(func.distinct(BlindIndex.digest))).where(
                    BlindIndex.field == "mobile"
                )
            )
            or 0
        )
        return subjects, mobiles


def expected(seed: int, count: int, start: int = 0) -> dict[str, dict[str, Any]]:
    factory = CustomerFactory(seed, start_index=start)
    return dict(factory.customer() for _ in range(count))


def test_seed_is_deterministic_and_stores_what_the_factory_makes(
    app: Flask, demo: FlaskCliRunner, catalog: None, profiles: Any
) -> None:
    result = demo.invoke(args=["demo", "seed", "--subjects", "23", "--seed", "5", "--batch", "7"])
    assert result.exit_code == 0, result.output
    assert "seeded 23 subjects in" in result.output and result.output.count("\n") == 1
    assert profiles() == expected(5, 23)


def test_worker_processes_give_the_same_subjects(
    app: Flask, demo: FlaskCliRunner, catalog: None, profiles: Any
) -> None:
    args = ["demo", "seed", "--subjects", "20", "--seed", "5", "--batch", "8", "--workers", "1"]
    result = demo.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "worker processes: 1" in result.output
    assert profiles() == expected(5, 20)


def test_birth_year_is_kept_beside_the_profile_for_the_minor_rule(
    app: Flask, demo: FlaskCliRunner, catalog: None
) -> None:
    from governance.db import get_session

    assert demo.invoke(args=["demo", "seed", "--subjects", "60", "--seed", "3"]).exit_code == 0
    made = expected(3, 60)
    with app.app_context():
        stored = {
            sid: year for sid, year in get_session().execute(select(Subject.id, Subject.birth_year))
        }
    assert stored == {sid: values.get("birth_year") for sid, values in made.items()}


def test_seeding_again_adds_new_subjects(
    app: Flask, demo: FlaskCliRunner, catalog: None, profiles: Any
) -> None:
    for _ in range(2):
        result = demo.invoke(args=["demo", "seed", "--subjects", "10", "--seed", "5"])
        assert result.exit_code == 0, result.output
    assert counts(app) == (20, 20)  # no subject and no mobile number twice
    assert profiles() == {**expected(5, 10), **expected(5, 10, start=10)}


def test_if_empty_does_nothing_when_subjects_exist(
    app: Flask, demo: FlaskCliRunner, catalog: None
) -> None:
    first = demo.invoke(args=["demo", "seed", "--subjects", "4", "--if-empty"])
    assert first.exit_code == 0 and "seeded 4 subjects" in first.output
    again = demo.invoke(args=["demo", "seed", "--subjects", "4", "--if-empty"])
    assert again.exit_code == 0 and "nothing seeded" in again.output
    assert counts(app)[0] == 4


def test_seed_without_catalog_fails_clearly(app: Flask, demo: FlaskCliRunner) -> None:
    result = demo.invoke(args=["demo", "seed", "--subjects", "3"])
    assert result.exit_code == 1
    assert "catalog is not loaded" in result.output
    assert counts(app) == (0, 0)


def test_seeded_values_never_reach_the_database_in_clear(
    app: Flask, demo: FlaskCliRunner, catalog: None, stored_bytes: Any
) -> None:
    assert demo.invoke(args=["demo", "seed", "--subjects", "40", "--seed", "9"]).exit_code == 0
    data = stored_bytes()
    probes = [
        str(values[name])
        for values in expected(9, 40).values()
        for name in ("mobile", "email", "wecom_unionid", "bank_card_number", "service_notes")
        if name in values
    ]
    assert len(probes) > 80
    leaked = [p for p in probes if p.encode() in data]
    assert leaked == []


def test_unusable_key_file_fails_before_seeding(
    app: Flask, demo: FlaskCliRunner, catalog: None
) -> None:
    kek = app.config["KEY_PATHS"].kek
    kek.chmod(0o644)
    args = ["demo", "seed", "--subjects", "10", "--batch", "5", "--workers", "1"]
    result = demo.invoke(args=args)
    assert result.exit_code == 1
    assert "readable by others" in result.output
    assert counts(app) == (0, 0)

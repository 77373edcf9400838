"""Settings: typed, from GOVERNANCE_* variables, and all documented in the README."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from governance.settings import Settings, settings_table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_setting_is_in_the_readme_table() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [name for _s, name, _d, _desc in settings_table() if f"`{name}`" not in text]
    assert missing == []


def test_every_setting_has_a_section_and_description() -> None:
    for section, name, _default, description in settings_table():
        assert section and description, name


def test_settings_come_from_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVERNANCE_MAX_BODY_BYTES", "4096")
    monkeypatch.setenv("GOVERNANCE_POLICY_ENGINE", "opa")
    settings = Settings()
    assert settings.max_body_bytes == 4096
    assert settings.policy_engine == "opa"


def test_invalid_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVERNANCE_POLICY_ENGINE", "magic")
    with pytest.raises(ValidationError, match="policy_engine"):
        Settings()


def test_config_env_table_works_without_an_app() -> None:
    from click.testing import CliRunner

    from governance.cli import main

    result = CliRunner().invoke(main, ["config", "env-table"])
    assert result.exit_code == 0
    assert "`GOVERNANCE_DATABASE_URL`" in result.output

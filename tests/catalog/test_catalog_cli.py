"""``governance catalog load`` / ``show``: one-line summaries, clear failures, no partial writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from flask.testing import FlaskCliRunner

from consent.catalog import loader
from consent.catalog.loader import DEFAULT_CATALOG_PATH, LoadResult

Doc = dict[str, Any]


def _write(tmp_path: Path, doc: Doc, name: str = "catalog.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_load_default_prints_one_line_summary_and_commits(
    runner: FlaskCliRunner, catalog_state: Any
) -> None:
    result = runner.invoke(args=["catalog", "load", "--default"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("catalog 2026.11.2 loaded (sha256 ")
    assert "fields 20 (+20 ~0 -0), purposes 7 (+7 ~0 -0), notices 2 (+2 ~0 -0)" in lines[0]
    assert len(catalog_state()["catalog_fields"]) == 20


def test_load_default_again_says_unchanged(
    runner: FlaskCliRunner, catalog: LoadResult, catalog_state: Any
) -> None:
    before = catalog_state()

    result = runner.invoke(args=["catalog", "load", "--default"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("catalog 2026.11.2 unchanged (sha256 ")
    assert "nothing written" in result.output
    assert catalog_state() == before


def test_load_file_by_path(runner: FlaskCliRunner, tmp_path: Path, default_document: Doc) -> None:
    path = _write(tmp_path, default_document)

    result = runner.invoke(args=["catalog", "load", str(path)])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("catalog 2026.11.2 loaded")


def test_load_from_standard_input(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["catalog", "load", "-"], input=DEFAULT_CATALOG_PATH.read_bytes())

    assert result.exit_code == 0, result.output
    assert result.output.startswith("catalog 2026.11.2 loaded")


def test_load_invalid_file_names_the_entry_exits_1_and_writes_nothing(
    runner: FlaskCliRunner,
    catalog: LoadResult,
    next_document: Doc,
    tmp_path: Path,
    catalog_state: Any,
) -> None:
    before = catalog_state()
    next(f for f in next_document["fields"] if f["name"] == "bank_card_number")["tier"] = "vip"
    path = _write(tmp_path, next_document, "next.yaml")

    result = runner.invoke(args=["catalog", "load", str(path)])

    assert result.exit_code == 1
    assert "next.yaml: the catalog is invalid; nothing was written:" in result.output
    index = [f["name"] for f in next_document["fields"]].index("bank_card_number")
    assert (
        f"fields[{index}] (bank_card_number).tier: Must be one of: basic, behaviour, payment."
        in result.output
    )
    assert catalog_state() == before


def test_load_conflicting_version_exits_1_naming_the_version(
    runner: FlaskCliRunner,
    catalog: LoadResult,
    default_document: Doc,
    tmp_path: Path,
    catalog_state: Any,
) -> None:
    before = catalog_state()
    default_document["fields"][0]["retention_days"] = 30
    path = _write(tmp_path, default_document)

    result = runner.invoke(args=["catalog", "load", str(path)])

    assert result.exit_code == 1
    assert "catalog 2026.11.2 is already loaded with other content" in result.output
    assert catalog_state() == before


def test_load_yaml_syntax_error_reports_the_line(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        "version: '2026.12.1'\nfields:\n  - name: mobile\n   tier: basic\n", encoding="utf-8"
    )

    result = runner.invoke(args=["catalog", "load", str(path)])

    assert result.exit_code == 1
    assert "broken.yaml: the catalog is invalid; nothing was written:" in result.output
    assert "line 4, column 4: invalid YAML: expected <block end>" in result.output


def test_crash_while_writing_rolls_back_everything(
    runner: FlaskCliRunner,
    catalog: LoadResult,
    next_document: Doc,
    tmp_path: Path,
    catalog_state: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = catalog_state()
    next_document["fields"][0]["retention_days"] = 30
    next_document["notices"].append(
        {**next_document["notices"][1], "version": "2026-12", "text_en": "A new notice."}
    )
    path = _write(tmp_path, next_document)

    def explode(*_args: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(loader, "_notice_row", explode)
    result = runner.invoke(args=["catalog", "load", str(path)])

    assert result.exit_code != 0
    assert isinstance(result.exception, RuntimeError)
    assert catalog_state() == before


@pytest.mark.parametrize(
    "args", [["catalog", "load"], ["catalog", "load", "--default", "x.yaml"]], ids=["none", "both"]
)
def test_load_needs_exactly_one_of_file_or_default(
    runner: FlaskCliRunner, tmp_path: Path, args: list[str]
) -> None:
    (tmp_path / "x.yaml").write_text("version: '1'\n")
    args = [str(tmp_path / a) if a.endswith(".yaml") else a for a in args]

    result = runner.invoke(args=args)

    assert result.exit_code == 2
    assert "Give either FILE or --default (not both)." in result.output


def test_load_missing_file_is_a_usage_error(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = runner.invoke(args=["catalog", "load", str(tmp_path / "nope.yaml")])

    assert result.exit_code == 2
    assert "nope.yaml" in result.output


def test_show_before_any_load_exits_1(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["catalog", "show"])

    assert result.exit_code == 1
    assert "no catalog loaded yet" in result.output


def test_show_prints_version_hash_and_counts(runner: FlaskCliRunner, catalog: LoadResult) -> None:
    result = runner.invoke(args=["catalog", "show"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"catalog 2026.11.2 (sha256 {catalog.sha256}), loaded ")
    assert result.output.rstrip().endswith("20 fields, 7 purposes, 2 notices")

"""``governance pii scan``: stdin in, a JSON array of findings out (a stable contract)."""

# Chinese text is written with full-width punctuation, as customers write it.
# ruff: noqa: RUF001
from __future__ import annotations

import json
from typing import Any

from tests.pii.fictional import resident_id

ID = resident_id("110105", "19900307", "123")


def test_scan_prints_the_exact_contract(runner: Any) -> None:
    result = runner.invoke(args=["pii", "scan"], input="请拨打13900001234联系")
    assert result.exit_code == 0, result.output
    assert result.output == '[{"type": "CN_MOBILE", "start": 3, "end": 14, "score": 0.95}]\n'


def test_offsets_count_characters_after_chinese_text_not_bytes(runner: Any) -> None:
    text = f"客户王小明的身份证号码是{ID}，邮箱wang@example.org。"
    result = runner.invoke(args=["pii", "scan"], input=text)
    found = json.loads(result.output)
    assert [list(item) for item in found] == [["type", "start", "end", "score"]] * 2
    assert [(f["type"], text[f["start"] : f["end"]]) for f in found] == [
        ("CN_RESIDENT_ID", ID),
        ("EMAIL_ADDRESS", "wang@example.org"),
    ]
    assert found[0]["start"] == 12


def test_findings_are_sorted_by_start(runner: Any) -> None:
    text = "b@example.com 192.0.2.7 13900001234 a@example.com"
    found = json.loads(runner.invoke(args=["pii", "scan"], input=text).output)
    assert [f["start"] for f in found] == sorted(f["start"] for f in found)
    assert len(found) == 4


def test_empty_input_prints_an_empty_array(runner: Any) -> None:
    result = runner.invoke(args=["pii", "scan"], input="")
    assert result.exit_code == 0
    assert result.output == "[]\n"


def test_text_without_pii_prints_an_empty_array(runner: Any) -> None:
    assert runner.invoke(args=["pii", "scan"], input="订单已发货 order shipped\n").output == "[]\n"


def test_input_that_is_not_utf8_fails_without_output(runner: Any) -> None:
    result = runner.invoke(args=["pii", "scan"], input=b"\xff\xfe13900001234")
    assert result.exit_code != 0
    assert "not UTF-8" in result.output
    assert "13900001234" not in result.output

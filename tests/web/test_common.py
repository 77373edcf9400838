"""The pieces every page shares: safe redirects and reflowing hard-wrapped texts."""

from __future__ import annotations

# Chinese texts use Chinese punctuation (full-width commas and colons).
# ruff: noqa: RUF001
import pytest

from governance.web.common import paragraphs, safe_next


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/portal/rights", "/portal/rights"),
        ("/portal/enter?token=abc", "/portal/enter?token=abc"),
        ("//evil.example.com/x", "/portal/"),
        ("https://evil.example.com/", "/portal/"),
        ("/\\evil.example.com", "/portal/"),
        ("javascript:alert(1)", "/portal/"),
        ("", "/portal/"),
        (None, "/portal/"),
    ],
)
def test_safe_next_keeps_to_this_site(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_paragraphs_reflow_wrapped_lines_and_keep_items_apart() -> None:
    text = (
        "Notice (version 2): important changes\n"
        "1. Joint modelling now uses your 12-month\n"
        "   spend.\n"
        "2. Nothing else.\n"
        "We are Example Retail. This notice explains why\n"
        "we handle your information.\n"
    )
    assert paragraphs(text) == [
        "Notice (version 2): important changes",
        "1. Joint modelling now uses your 12-month spend.",
        "2. Nothing else.",
        "We are Example Retail. This notice explains why we handle your information.",
    ]


def test_paragraphs_join_chinese_lines_without_a_space() -> None:
    text = "2. 跨境提供：提供的信息新增手机号，\n   用于在新加坡门店识别会员。\n其他内容相同。"
    assert paragraphs(text) == [
        "2. 跨境提供：提供的信息新增手机号，用于在新加坡门店识别会员。",
        "其他内容相同。",
    ]

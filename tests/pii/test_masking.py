"""mask keeps a value's shape (and the text's length); redact names the type."""

from __future__ import annotations

import pytest

from governance import pii
from governance.pii import Finding
from tests.pii.fictional import luhn, resident_id

ID = resident_id("110105", "19900307", "123")
CARD = luhn("622202000000001")


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("请拨打13900001234联系", "请拨打139****1234联系"),
        ("tel +86 139-0000-1234", "tel +86 139-****-1234"),
        (f"身份证{ID}", f"身份证{ID[0]}{'*' * 16}{ID[-1]}"),
        (f"卡号{CARD[:4]} {CARD[4:8]} {CARD[8:12]} {CARD[12:]}", f"卡号**** **** **** {CARD[12:]}"),
        ("邮箱li.wei@example.com。", "邮箱**.***@*******.***。"),
        ("车牌京A12345", "车牌*******"),
        ("服务器192.0.2.1", "服务器***.*.*.*"),
        ("nothing here", "nothing here"),
    ],
)
def test_mask_keeps_the_shape_and_hides_the_rest(text: str, masked: str) -> None:
    out = pii.mask(text, pii.analyze(text))
    assert out == masked
    assert len(out) == len(text)


def test_mask_takes_another_character() -> None:
    assert pii.mask("13900001234", pii.analyze("13900001234"), char="•") == "139••••1234"


def test_mask_refuses_a_mask_longer_than_one_character() -> None:
    with pytest.raises(ValueError, match="one character"):
        pii.mask("x", [], char="**")


def test_a_type_without_a_style_is_masked_whole() -> None:
    assert pii.mask("ab-cd", [Finding("SOMETHING", 0, 5, 1.0)]) == "**-**"


def test_redact_replaces_each_finding_with_its_type() -> None:
    text = "请拨打13900001234或发邮件到li@example.com"
    assert pii.redact(text, pii.analyze(text)) == "请拨打<CN_MOBILE>或发邮件到<EMAIL_ADDRESS>"


def test_redact_merges_overlapping_findings_into_one_placeholder() -> None:
    findings = [Finding("A", 0, 4, 1.0), Finding("B", 2, 8, 1.0), Finding("C", 9, 10, 1.0)]
    assert pii.redact("0123456789", findings) == "<A>8<C>"


def test_mask_covers_the_union_of_overlapping_findings() -> None:
    findings = [Finding("A", 0, 4, 1.0), Finding("B", 2, 8, 1.0)]
    assert pii.mask("0123456789", findings) == "********89"


@pytest.mark.parametrize("finding", [Finding("A", -1, 2, 1.0), Finding("A", 3, 99, 1.0)])
def test_a_finding_outside_the_text_is_an_error(finding: Finding) -> None:
    with pytest.raises(ValueError, match="outside"):
        pii.redact("short", [finding])

"""CnResidentIdRecognizer: 18 characters, MOD 11-2 check, a real birth date."""

from __future__ import annotations

import pytest

from tests.pii.fictional import expect, resident_id, resident_id_ending_in_x, spans, wrong_last

T = "CN_RESIDENT_ID"
ID = resident_id("110105", "19900307", "123")
ID_X = resident_id_ending_in_x()
TAIWAN_RESIDENT = resident_id("830000", "19850101", "031")  # a residence permit number

FOUND = [
    ("身份证" + ID + "。", [(T, 3, 21)]),
    expect(f"客户的公民身份号码为{ID}请核对", (T, ID)),
    expect(f"ID card {ID_X} on file", (T, ID_X)),
    expect(f"证件号{ID_X.lower()}", (T, ID_X.lower())),  # a lower-case check x
    expect(f"居住证号码{TAIWAN_RESIDENT}", (T, TAIWAN_RESIDENT)),
    expect(
        f"{ID}, {resident_id('310104', '20010615', '457')}",
        (T, ID),
        (T, resident_id("310104", "20010615", "457")),
    ),
]

NOT_FOUND = [
    wrong_last(ID),  # check character wrong
    ID[:17] + ("1" if ID[17] == "X" else "X"),
    resident_id("110105", "19900230", "123"),  # 30 February
    resident_id("110105", "20991231", "123"),  # born in the future
    resident_id("110105", "18991231", "123"),  # before 1900
    resident_id("990105", "19900307", "123"),  # no such province code
    ID + "1",  # nineteen characters
    "A" + ID,  # inside a token
    "110105900307123",  # the old fifteen-digit form
]


@pytest.mark.parametrize(("text", "expected"), FOUND)
def test_resident_ids_are_found_with_exact_spans(
    text: str, expected: list[tuple[str, int, int]]
) -> None:
    assert spans(text) == expected


@pytest.mark.parametrize("text", NOT_FOUND)
def test_look_alikes_are_not_resident_ids(text: str) -> None:
    assert T not in [kind for kind, _s, _e in spans(text)]

"""Fictional customers: reproducible, plausible, and unable to describe a real person."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from governance.demo.fake import BLOCK, CustomerFactory, fake_mobile, luhn_digit

TODAY = dt.date(2026, 6, 1)


@pytest.fixture(scope="module")
def customers() -> list[tuple[str, dict[str, object]]]:
    factory = CustomerFactory(seed=42, today=TODAY)
    return [factory.customer() for _ in range(3000)]


def test_same_seed_and_index_give_the_same_customer() -> None:
    one = CustomerFactory(7, start_index=0, today=TODAY)
    first = [one.customer() for _ in range(BLOCK + 10)]
    # Starting in the middle of the stream gives the same customers from there on.
    mid = CustomerFactory(7, start_index=BLOCK - 5, today=TODAY)
    assert [mid.customer() for _ in range(15)] == first[BLOCK - 5 : BLOCK + 10]
    other = CustomerFactory(8, start_index=0, today=TODAY)
    assert other.customer() != first[0]


def test_mobiles_are_in_the_unassigned_100_block_and_unique(
    customers: list[tuple[str, dict[str, object]]],
) -> None:
    mobiles = [v["mobile"] for _, v in customers]
    assert all(isinstance(m, str) and re.fullmatch(r"100\d{8}", m) for m in mobiles)
    assert len(set(mobiles)) == len(mobiles)
    assert len({fake_mobile(i) for i in range(0, 10**8, 9973)}) == len(range(0, 10**8, 9973))


def test_emails_use_example_com_and_are_unique(
    customers: list[tuple[str, dict[str, object]]],
) -> None:
    emails = [v["email"] for _, v in customers if "email" in v]
    assert emails and all(str(e).endswith("@example.com") for e in emails)
    assert len(set(emails)) == len(emails)


def test_bank_cards_use_a_non_issuing_prefix_with_a_valid_luhn_digit(
    customers: list[tuple[str, dict[str, object]]],
) -> None:
    cards = [str(v["bank_card_number"]) for _, v in customers if "bank_card_number" in v]
    assert cards
    for card in cards:
        assert card.startswith("999999") and len(card) == 16
        assert luhn_digit(card[:-1]) == card[-1]
    assert luhn_digit("7992739871") == "3"  # the textbook example


def test_about_three_percent_are_minors_with_a_guardian(
    customers: list[tuple[str, dict[str, object]]],
) -> None:
    minors = [v for _, v in customers if "minor_guardian_mobile" in v]
    assert 0.015 < len(minors) / len(customers) < 0.05
    for values in minors:
        assert TODAY.year - 14 < int(str(values["birth_year"])) <= TODAY.year
        assert re.fullmatch(r"100\d{8}", str(values["minor_guardian_mobile"]))
    adults = [v for _, v in customers if "minor_guardian_mobile" not in v and "birth_year" in v]
    assert all(int(str(v["birth_year"])) <= TODAY.year - 18 for v in adults)


def test_subject_ids_are_opaque_and_unique(
    customers: list[tuple[str, dict[str, object]]],
) -> None:
    ids = [sid for sid, _ in customers]
    assert all(re.fullmatch(r"sub_[A-Za-z0-9_-]{22}", sid) for sid in ids)
    assert len(set(ids)) == len(ids)


def test_free_text_appears_sometimes(customers: list[tuple[str, dict[str, object]]]) -> None:
    notes = sum("service_notes" in v for _, v in customers)
    assert 0.05 < notes / len(customers) < 0.15

"""One finding per span: highest score, then longest, then configuration order."""

from __future__ import annotations

import itertools
import random

from governance.pii.findings import Candidate, Finding, resolve
from tests.pii.fictional import resident_id, social_credit_code, spans


def _c(kind: str, start: int, end: int, score: float, priority: int = 0) -> Candidate:
    return Candidate(Finding(kind, start, end, score), priority)


def test_the_higher_score_wins_an_overlap() -> None:
    kept = resolve([_c("A", 0, 10, 0.6), _c("B", 5, 8, 0.9)])
    assert kept == [Finding("B", 5, 8, 0.9)]


def test_at_equal_scores_the_longer_span_wins() -> None:
    kept = resolve([_c("A", 2, 6, 0.8), _c("B", 0, 10, 0.8)])
    assert kept == [Finding("B", 0, 10, 0.8)]


def test_at_equal_score_and_length_the_recognizer_listed_first_wins() -> None:
    kept = resolve([_c("LATER", 0, 10, 1.0, priority=3), _c("FIRST", 0, 10, 1.0, priority=1)])
    assert kept == [Finding("FIRST", 0, 10, 1.0)]


def test_findings_that_do_not_overlap_are_all_kept_sorted_by_start() -> None:
    kept = resolve([_c("B", 10, 12, 0.5), _c("A", 0, 10, 0.5), _c("C", 12, 20, 0.7)])
    assert [(f.type, f.start) for f in kept] == [("A", 0), ("B", 10), ("C", 12)]


def test_a_partial_overlap_keeps_only_the_better_one() -> None:
    kept = resolve([_c("A", 0, 10, 0.7), _c("B", 8, 15, 0.6), _c("C", 15, 18, 0.5)])
    assert kept == [Finding("A", 0, 10, 0.7), Finding("C", 15, 18, 0.5)]


def test_the_result_does_not_depend_on_the_order_of_candidates() -> None:
    rng = random.Random(6)
    candidates = [
        _c(kind, start, start + rng.randint(1, 12), rng.choice([0.5, 0.6, 1.0]), p)
        for p, kind in enumerate("ABCDEF")
        for start in rng.sample(range(60), 8)
    ]
    first = resolve(candidates)
    for _ in range(20):
        rng.shuffle(candidates)
        assert resolve(candidates) == first
    assert all(a.end <= b.start for a, b in itertools.pairwise(first))


def test_an_id_that_also_passes_the_credit_code_check_is_reported_once_as_an_id() -> None:
    # Both checks pass on some 18-digit numbers: the same span, both at 1.0.
    both = next(
        rid
        for n in range(1000)
        if (rid := resident_id("320102", "19780224", f"{n:03d}")) == social_credit_code(rid[:17])
    )
    assert spans(f"号码{both}") == [("CN_RESIDENT_ID", 2, 20)]


def test_an_ipv4_tail_inside_an_ipv6_address_is_one_finding() -> None:
    assert spans("::ffff:192.0.2.1") == [("IP_ADDRESS", 0, 16)]

"""The volume the policies are told is banded to the thresholds: same decisions, cache hits."""

from __future__ import annotations

from typing import Any

from flask import Flask
from hypothesis import given
from hypothesis import strategies as st

import policies
from policies.inputs import policy_volume, volume_thresholds


@given(
    st.lists(st.integers(0, 10**8), min_size=1, max_size=6, unique=True).map(sorted),
    st.integers(0, 2 * 10**8),
)
def test_a_banded_volume_is_above_exactly_the_thresholds_the_volume_is_above(
    thresholds: list[int], volume: int
) -> None:
    banded = policy_volume(volume, [float(t) for t in thresholds])
    assert [volume > t for t in thresholds] == [banded > t for t in thresholds]
    assert banded in thresholds or banded == thresholds[-1] + 1  # few distinct values


def test_without_thresholds_the_volume_is_given_as_it_is() -> None:
    assert policy_volume(1234, None) == 1234


def test_the_thresholds_come_from_the_loaded_policy_data(app: Flask) -> None:
    with app.app_context():
        service = volume_thresholds("service")
        assert service is not None and 90000.0 in service and 20000000.0 in service
        assert volume_thresholds("nobody") == ()


def test_reads_of_a_day_repeat_their_inputs_and_hit_the_result_cache(
    app: Flask, catalog: Any, as_service: Any
) -> None:
    from governance.db import get_session
    from governance.profiles.store import create_subject

    with app.app_context():
        session = get_session()
        subject = create_subject(session, {"city": "杭州"})
        session.commit()
        engine = policies.service().engine
    client = as_service(["marketing_push"], ["profile:read"])
    for _ in range(5):
        resp = client.post(
            f"/api/v1/profiles/{subject}/read",
            json={"purpose": "marketing_push", "fields": ["city"]},
        )
        assert resp.status_code == 200
    stats = engine.cache_stats()  # type: ignore[attr-defined]
    assert stats["hits"] >= 4

"""Seeded synthetic data for the retailer-and-bank case, with a known ground truth.

A population of customers has a latent affluence. A retail brand sees their orders, coupon
use, store visits and browsing; a bank sees their income band, card spend, balances and
credit use. The label, *high spending capacity*, is drawn from a logistic model over
features of **both** parties (:data:`TRUE_COEFFICIENTS`, on standardised features), so
neither party alone predicts it as well as the two together.

Two layouts of the same population:

* **vertical** (:func:`vertical`): the retailer and the bank hold the *same* customers
  (most of them; some are only at one party) under the same opaque customer id, each with
  its own features; the retailer holds the label.
* **horizontal** (:func:`horizontal`): two participants hold *different* customers with the
  same features (all of them) and the label.

Each party's customers carry a consent flag for the joint-modelling purpose; the demo signs
cohort manifests from them. :func:`write_rows` writes a party's rows as JSON Lines in the
shape of the platform's cohort export: ``{"subject": id, "values": {field: value}}``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "BANK_FEATURES",
    "LABEL_FIELD",
    "RETAILER_FEATURES",
    "TRUE_COEFFICIENTS",
    "TRUE_INTERCEPT",
    "PartyData",
    "Population",
    "horizontal",
    "population",
    "vertical",
    "write_rows",
]

LABEL_FIELD = "high_spending_capacity"
RETAILER_FEATURES = (
    "order_total_90d",
    "orders_90d",
    "coupon_use_rate",
    "store_visits_90d",
    "browse_sessions_30d",
)
BANK_FEATURES = (
    "income_band",
    "card_spend_90d",
    "avg_balance",
    "credit_utilisation",
)
ALL_FEATURES = RETAILER_FEATURES + BANK_FEATURES

#: The ground truth: logit = intercept + sum(coefficient * standardised feature).
TRUE_COEFFICIENTS: dict[str, float] = {
    "order_total_90d": 0.9,
    "orders_90d": 0.3,
    "coupon_use_rate": -0.6,
    "store_visits_90d": 0.2,
    "browse_sessions_30d": 0.0,
    "income_band": 1.1,
    "card_spend_90d": 0.8,
    "avg_balance": 0.5,
    "credit_utilisation": -0.4,
}
TRUE_INTERCEPT = -0.4


@dataclass(frozen=True)
class Population:
    """Every customer: ids, all features (columns in :data:`ALL_FEATURES`), labels."""

    ids: tuple[str, ...]
    x: NDArray[np.float64]
    y: NDArray[np.int64]
    true_logit: NDArray[np.float64]


@dataclass(frozen=True)
class PartyData:
    """One party's rows: ids, its feature columns, labels (or None) and consent flags."""

    party: str
    ids: tuple[str, ...]
    features: tuple[str, ...]
    x: NDArray[np.float64]
    y: NDArray[np.int64] | None
    consented: NDArray[np.bool_]

    @property
    def consented_ids(self) -> list[str]:
        """The ids of the customers who consented to joint modelling."""
        return [cid for cid, ok in zip(self.ids, self.consented, strict=True) if ok]


def population(n: int, seed: int) -> Population:
    """``n`` customers drawn with ``seed``; the label from the ground-truth model."""
    rng = np.random.default_rng(seed)
    ids = tuple(rng.bytes(8).hex() for _ in range(n))
    affluence = rng.normal(0.0, 1.0, n)
    thrift = rng.normal(0.0, 1.0, n)  # a taste for deals, independent of affluence
    columns = {
        "order_total_90d": np.round(np.exp(5.0 + 0.45 * affluence + rng.normal(0, 0.5, n)), 2),
        "orders_90d": rng.poisson(np.exp(1.2 + 0.2 * affluence + 0.2 * thrift)).astype(float),
        "coupon_use_rate": np.round(1 / (1 + np.exp(-(0.8 * thrift - 0.3 * affluence))), 3),
        "store_visits_90d": rng.poisson(np.exp(1.0 + 0.15 * affluence)).astype(float),
        "browse_sessions_30d": rng.poisson(np.exp(1.6 + 0.3 * thrift)).astype(float),
        "income_band": np.clip(np.round(5.5 + 2.0 * affluence + rng.normal(0, 1, n)), 1, 10),
        "card_spend_90d": np.round(np.exp(7.0 + 0.5 * affluence + rng.normal(0, 0.5, n)), 2),
        "avg_balance": np.round(np.exp(8.0 + 0.6 * affluence + rng.normal(0, 0.8, n)), 2),
        "credit_utilisation": np.round(
            1 / (1 + np.exp(-(-0.5 * affluence + rng.normal(0, 0.8, n)))), 3
        ),
    }
    x = np.column_stack([columns[name] for name in ALL_FEATURES]).astype(np.float64)
    standardised = (x - x.mean(axis=0)) / x.std(axis=0)
    beta = np.array([TRUE_COEFFICIENTS[name] for name in ALL_FEATURES])
    logit = TRUE_INTERCEPT + standardised @ beta
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return Population(ids=ids, x=x, y=y, true_logit=logit)


def _columns(names: Sequence[str]) -> NDArray[np.intp]:
    return np.asarray([ALL_FEATURES.index(name) for name in names], dtype=np.intp)


def vertical(
    n: int = 4000,
    seed: int = 7,
    *,
    overlap: float = 0.85,
    consent_rate: float = 0.9,
) -> tuple[PartyData, PartyData]:
    """The retailer (features and label) and the bank (features), mostly the same people.

    A share ``overlap`` of the customers is at both parties; the rest is split between
    retailer-only and bank-only. Each party's consent flags are drawn independently.
    """
    pop = population(n, seed)
    rng = np.random.default_rng(seed + 1)
    where = rng.random(n)
    at_retailer = where < overlap + (1 - overlap) / 2
    at_bank = (where < overlap) | (where >= overlap + (1 - overlap) / 2)
    parties = []
    for party, mask, names, labelled in (
        ("retailer", at_retailer, RETAILER_FEATURES, True),
        ("bank", at_bank, BANK_FEATURES, False),
    ):
        index = np.flatnonzero(mask)
        parties.append(
            PartyData(
                party=party,
                ids=tuple(pop.ids[i] for i in index),
                features=tuple(names),
                x=pop.x[np.ix_(index, _columns(names))],
                y=pop.y[index] if labelled else None,
                consented=rng.random(index.size) < consent_rate,
            )
        )
    return parties[0], parties[1]


def horizontal(
    n: int = 4000,
    seed: int = 7,
    *,
    consent_rate: float = 0.9,
    parties: tuple[str, str] = ("brand-a", "brand-b"),
) -> tuple[PartyData, PartyData]:
    """Two participants with disjoint customers, all features and the label.

    The split is not even: the first participant holds about 60% of the customers.
    """
    pop = population(n, seed)
    rng = np.random.default_rng(seed + 2)
    first = rng.random(n) < 0.6
    out = []
    for party, mask in ((parties[0], first), (parties[1], ~first)):
        index = np.flatnonzero(mask)
        out.append(
            PartyData(
                party=party,
                ids=tuple(pop.ids[i] for i in index),
                features=ALL_FEATURES,
                x=pop.x[index],
                y=pop.y[index],
                consented=rng.random(index.size) < consent_rate,
            )
        )
    return out[0], out[1]


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else float(value)


def write_rows(data: PartyData, path: Path) -> Path:
    """Write the party's rows (all of them, consented or not) as export-shaped JSON Lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for i, cid in enumerate(data.ids):
            values: dict[str, float | int] = {
                name: _number(data.x[i, j]) for j, name in enumerate(data.features)
            }
            if data.y is not None:
                values[LABEL_FIELD] = int(data.y[i])
            out.write(json.dumps({"subject": cid, "values": values}) + "\n")
    return path

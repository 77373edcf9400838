"""Federated modelling with partners on Flower: consent-gated cohorts, audited runs."""

"""Federated modelling with partners on Flower: consent-gated cohorts, audited runs.

The engine (docs/federated.md): the Flower app (``server_app``, ``client_app``, logic in
``task``, ``horizontal``, ``vertical``; run parameters in ``app/pyproject.toml``), the
row-source seam (``rows``, ``manifest``), the run result (``result``), and the loopback
demo (``loopback``, ``demo``, ``cli``). Importing this package loads nothing else: Flower
is imported by the modules that need it.
"""

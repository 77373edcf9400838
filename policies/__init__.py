"""Rego policies, their data and their tests, evaluated in-process or by an OPA server."""

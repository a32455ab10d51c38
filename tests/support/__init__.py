"""Helpers shared by the test modules (fixtures are in conftest.py)."""

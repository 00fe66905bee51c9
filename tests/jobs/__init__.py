"""Tiny job modules, one per behaviour, used by the worker and end-to-end tests."""

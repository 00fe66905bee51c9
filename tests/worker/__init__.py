"""Tests of the Python worker runtime (disco.worker, disco.job, disco.task)."""

"""Shared fixtures: resource accounting and hypothesis profiles."""

from __future__ import annotations

import os
import threading

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=5_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_report_header(config):
    # Which build is under test: CI runs this suite against each installed wheel.
    import sys

    import ferrosock

    native = ferrosock._native.__file__
    return f"ferrosock {ferrosock.__version__} on CPython {sys.version.split()[0]}: {native}"


def open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


@pytest.fixture
def no_fd_leak():
    """Fails the test if it leaves file descriptors or threads behind."""
    fds_before = open_fds()
    threads_before = threading.active_count()
    yield
    leaked = open_fds() - fds_before
    assert not leaked, f"leaked file descriptors: {sorted(leaked)}"
    assert threading.active_count() <= threads_before, "leaked threads"

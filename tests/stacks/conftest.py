"""Registers the `stacks` marker (skip the matrix locally with `-m "not stacks"`)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "stacks: the framework x server matrix (real servers)")

"""Fixtures for tests that run the launcher's real processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import scratch_database


@pytest.fixture(scope="module")
def own_database_url(database_url: str) -> Iterator[str]:
    """A migrated database of the module's own: no other test's connections or jobs."""
    with scratch_database(database_url) as url:
        yield url

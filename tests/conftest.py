"""Shared fixtures.  Integration tests need root and network namespaces; they are
skipped with the reason when those are missing, and CI (CI=true) refuses to skip them."""

from __future__ import annotations

import os

import pytest

from tests.support.netns import Netns, can_netns, netns


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.fspath)
        for layer in ("unit", "integration", "e2e", "systemd"):
            if f"/tests/{layer}/" in path:
                item.add_marker(getattr(pytest.mark, layer))


def require_root_netns() -> None:
    if can_netns():
        return
    if os.environ.get("CI") == "true":
        pytest.fail("integration tests need root and `ip netns` (CI runs as root)")
    pytest.skip("needs root and ip netns")


@pytest.fixture
def ns() -> Netns:
    require_root_netns()
    with netns() as n:
        yield n

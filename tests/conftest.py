"""Shared fixtures, and the rule that a run as root cannot pass by skipping.

Integration, stack and e2e tests need root, `ip netns`, the lab stack and tmux.  Without root (a
developer's quick `pytest tests/unit`) a test that needs them is skipped with the reason.  As root
(the README's `sudo scripts/test`, CI) nothing is skipped: a missing requirement fails the test
with its reason, whatever the environment says (sudo drops `CI`).  The only exception is a test
marked ``optional_layer`` (a layer the README calls optional: tests/systemd, where the kernel
refuses namespaces); such skips are counted in the run's last line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.netns import Netns, can_netns, netns
from tests.support.require import require, strict

SUMMARY_ENV = "MBTOP_TEST_SUMMARY"  # scripts/test reads the counts written here for its last line


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "optional_layer(why): a layer the README calls optional; may skip as root")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.fspath)
        for layer in ("unit", "integration", "e2e", "systemd"):
            if f"/tests/{layer}/" in path:
                item.add_marker(getattr(pytest.mark, layer))
        if "/tests/systemd/" in path:
            # The README's one optional layer: skipped, with the reason, where the kernel refuses
            # to boot systemd in namespaces (any other failure to boot fails it).
            item.add_marker(pytest.mark.optional_layer("systemd in namespaces"))


_optional_skips: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """As root, any skip — ours, a plugin's, a stray ``pytest.skip`` — is a failure with its reason."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.skipped and strict() and item.get_closest_marker("optional_layer") is None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped while running as root (nothing may skip here): {reason}"
    elif report.skipped:
        _optional_skips.append(item.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The counts pytest prints, for scripts/test's last line."""
    target = os.environ.get(SUMMARY_ENV)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if not target or reporter is None:
        return
    counts = {k: len(v) for k, v in reporter.stats.items() if k in ("passed", "failed", "error", "skipped")}
    doc = {**counts, "optional_skipped": sorted(set(_optional_skips)), "exit": int(exitstatus)}
    Path(target).write_text(json.dumps(doc))


def require_root_netns() -> None:
    require(can_netns(), "needs root and a working `ip netns` (ip netns list failed or not root)")


@pytest.fixture
def ns() -> Iterator[Netns]:
    require_root_netns()
    with netns() as n:
        yield n

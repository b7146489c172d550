"""The shipped alert rules pass ``promtool check rules`` and their unit tests (``promtool test rules``,
tests/prometheus/mbtop-alerts.test.yml: input series, no server), and those unit tests fail when a
rule's threshold, duration or selector is changed (each mutant below must be caught).

promtool is Debian's ``prometheus`` package (``scripts/stack install``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.require import require

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "mbtop" / "share" / "prometheus" / "mbtop-alerts.yml"
TESTS = REPO / "tests" / "prometheus" / "mbtop-alerts.test.yml"

# (in which alert, what is changed, into what): each a plausible slip, each caught by a case of the unit tests.
MUTANTS = [
    ("MbtopCertificateExpiringSoon", "< 14 * 86400", "< 7 * 86400"),  # the certificate's 14 days, shorter
    ("MbtopCertificateExpiringSoon", "< 14 * 86400", "< 30 * 86400"),  # and longer
    ("MbtopCertificateExpiringSoon", "0 < mbtop_", "mbtop_"),  # an expired certificate "expiring" too
    ("MbtopPortDown", "for: 1m", "for: 0s"),
    ("MbtopDataStale", "> 60", "> 30"),
    ("MbtopDataStale", "> 60", "> 300"),
    ("MbtopHealthFailing", "== 0", "== 1"),
    ("MbtopHealthFailing", "severity: critical", "severity: warning"),
    ("MbtopSmtpFlood", "for: 30s", "for: 15s"),
    ("MbtopSmtpFlood", "for: 30s", "for: 2m"),
    ("MbtopAgentDown", 'up{job="mbtop"}', 'up{job=~".+"}'),  # another job's targets paged as mbtop's
    ("MbtopClusterPeerUnreachable", "for: 2m", "for: 1m"),
    ("MbtopSocketWrong", "socket-owner|socket-mode|", "socket-owner|"),
    ("MbtopInternalPortExposed", "exposed-bind|", ""),
    ("MbtopInternalPortExposed", "for: 1m", "for: 30s"),
]


def _promtool() -> str:
    path = shutil.which("promtool")
    require(path is not None, "promtool is not installed (Debian's prometheus package: sudo scripts/stack install)")
    assert path is not None
    return path


def _test_rules(rules: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    """``promtool test rules`` on the shipped cases against ``rules``."""
    cases = TESTS.read_text().replace("../../mbtop/share/prometheus/mbtop-alerts.yml", str(rules))
    path = tmp / "cases.test.yml"
    path.write_text(cases)
    return subprocess.run([_promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=60)


def test_the_rules_are_valid() -> None:
    done = subprocess.run([_promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 10 rules found" in done.stdout


def test_the_rules_pass_their_unit_tests() -> None:
    done = subprocess.run(
        [_promtool(), "test", "rules", str(TESTS.name)], capture_output=True, text=True, timeout=60, cwd=TESTS.parent
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_mutation_harness_passes_the_real_rules(tmp_path: Path) -> None:
    done = _test_rules(RULES, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_case_that_fires_and_one_that_must_not() -> None:
    cases = TESTS.read_text()
    names = [line.split(":", 1)[1].strip() for line in RULES.read_text().splitlines() if "- alert:" in line]
    assert len(names) == 10
    for name in names:
        assert f"alertname: {name}\n        exp_alerts:\n          - exp_labels" in cases, f"{name} never fires"
        if name != "MbtopCertificateExpired":  # no `for:`: firing at once is its case
            assert f"alertname: {name}\n        exp_alerts: []" in cases, f"{name} has no case where it must not fire"


def _mutated(text: str, alert: str, old: str, new: str) -> str:
    """``text`` with ``old`` changed into ``new`` in ``alert``'s rule only."""
    start = text.index(f"- alert: {alert}\n")
    end = text.find("- alert: ", start + 1)
    end = len(text) if end < 0 else end
    rule = text[start:end]
    assert old in rule, f"the mutant's text is gone from {alert}: {old!r}"
    return text[:start] + rule.replace(old, new, 1) + text[end:]


@pytest.mark.parametrize(("alert", "old", "new"), MUTANTS, ids=[f"{a}:{o}->{n}" for a, o, n in MUTANTS])
def test_a_changed_rule_fails_the_unit_tests(tmp_path: Path, alert: str, old: str, new: str) -> None:
    mutant = tmp_path / "mbtop-alerts.yml"
    mutant.write_text(_mutated(RULES.read_text(), alert, old, new))
    done = _test_rules(mutant, tmp_path)
    assert done.returncode != 0, f"no case caught {old!r} -> {new!r}"
    assert "FAILED" in done.stdout + done.stderr

"""Vitals findings and their JSON, on made-up readings (pure; the real ones are in
tests/integration/test_vitals.py)."""

from __future__ import annotations

import json

from mbtop.model import queue as qm
from mbtop.model.gateway_json import vitals as vitals_json
from mbtop.model.types import Finding, Snapshot
from mbtop.model.vitals import VitalsThresholds, extend, findings
from mbtop.probes.vitals import Certificate, Filesystem, Vitals

NOW = 1_800_000_000.0
DAY = 86400.0


def fs(mount: str, free: float, inodes: float | None) -> Filesystem:
    return Filesystem(mount, ("spool",), (mount,), 1000, int(1000 * free), free, 100 if inodes else None, 5, inodes)


def vitals(**kw: object) -> Vitals:
    base = dict(
        taken_at=NOW,
        filesystems=(fs("/", 0.5, 0.5),),
        memory=(("total", 1.0),),
        load=(0.1, 0.2, 0.3),
        cpus=2,
        clock_synchronized=True,
        clock_source="timedatectl: NTPSynchronized=yes",
        certificates=(),
        mailborder_logs=None,
    )
    base.update(kw)
    return Vitals(**base)  # type: ignore[arg-type]


def codes(v: Vitals, t: VitalsThresholds | None = None) -> dict[str, str]:
    return {f"{f.code}:{f.path}": f.severity for f in findings(v, t or VitalsThresholds(), NOW)}


def test_healthy_vitals_have_no_findings() -> None:
    assert codes(vitals()) == {}


def test_disk_inodes_certificates_clock() -> None:
    v = vitals(
        filesystems=(fs("/", 0.15, 0.5), fs("/var", 0.04, 0.05), fs("/srv", 0.2, None)),
        certificates=(
            Certificate("/a.crt", ("nginx",), NOW - 2 * DAY, "a"),
            Certificate("/b.crt", ("postfix smtpd_tls_cert_file",), NOW + 10 * DAY, "b"),
            Certificate("/c.crt", ("nginx",), NOW + 31 * DAY, "c"),
            Certificate("/d.crt", ("nginx",), None, None, "no certificate in the file"),
        ),
        clock_synchronized=False,
    )
    assert codes(v) == {
        "disk-low:/": "warning",
        "disk-low:/var": "critical",
        "inodes-low:/var": "warning",
        "certificate-file-expired:/a.crt": "critical",
        "certificate-file-expiring:/b.crt": "warning",
        "clock-unsynchronized:None": "warning",
    }
    assert codes(v, VitalsThresholds(disk_free=0.1, inode_free=0.01, cert_days=5)) == {
        "disk-low:/var": "critical",
        "certificate-file-expired:/a.crt": "critical",
        "clock-unsynchronized:None": "warning",
    }
    doc = json.loads(json.dumps(vitals_json(v)))
    assert [c["days_left"] for c in doc["certificates"]] == [-2, 10, 31, None]
    assert doc["filesystems"][0] == {
        "mount": "/",
        "path_roles": {"spool": "/"},
        "total_bytes": 1000,
        "free_bytes": 150,
        "free_ratio": 0.15,
        "total_inodes": 100,
        "free_inodes_ratio": 0.5,
    }
    assert vitals(clock_synchronized=None).clock_synchronized is None and codes(vitals(clock_synchronized=None)) == {}


def test_extend_adds_findings_worst_first_and_the_status() -> None:
    snap = Snapshot("gw", NOW, True, (), (), (Finding("warning", "x", "m", "f"),), (), (), "warning")
    queue = qm.summarise([], NOW)
    out = extend(snap, queue, vitals(filesystems=(fs("/", 0.01, 0.5),)), qm.QueueThresholds(), VitalsThresholds())
    assert out.status == "critical" and [f.code for f in out.findings] == ["disk-low", "x"]
    assert out.queue is queue and out.vitals is not None


def test_mailborder_log_errors_counted_from_real_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from mbtop.probes.vitals import mailborder_logs

    assert mailborder_logs(str(tmp_path / "absent")) is None
    (tmp_path / "mb-filter.log").write_text(
        "ok\n2026 ERROR db gone\nfine\nCRITICAL: disk\nerrors=0 is not a word match\n"
    )
    (tmp_path / "old.log.gz").write_bytes(b"ERROR compressed, skipped\n")
    (tmp_path / "link.log").symlink_to(tmp_path / "mb-filter.log")  # never followed
    (tmp_path / "big.log").write_bytes(b"ERROR early\n" + b"x" * (300 << 10) + b"\nERROR late\n")
    got = {e.path.rsplit("/", 1)[-1]: (e.errors, e.last) for e in mailborder_logs(str(tmp_path)) or ()}
    assert got == {"big.log": (1, "ERROR late"), "mb-filter.log": (2, "CRITICAL: disk")}

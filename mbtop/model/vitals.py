"""Findings from the gateway's vitals (disk, inodes, certificates, clock), and the snapshot with the
queue's and the vitals' findings added. Pure."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from mbtop.model import queue as queuemodel
from mbtop.model.types import SEVERITY_RANK, Finding, Snapshot, worst
from mbtop.probes.vitals import Certificate, Vitals

DISK_CRITICAL = 0.05  # under this much free the queue stops taking mail (queue_minfree, logs): critical


@dataclass(frozen=True, slots=True)
class VitalsThresholds:
    disk_free: float = 0.20  # Mailborder's daily check: disks keep more than 20 % free
    inode_free: float = 0.10
    cert_days: int = 30  # Mailborder's monthly check: certificates have more than 30 days left


def days_left(cert: Certificate, now: float) -> int | None:
    if cert.not_after is None:
        return None
    return math.trunc((cert.not_after - now) / 86400)  # whole days, toward zero: -3 is "expired 3 days ago"


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.0f} %" if ratio >= 0.01 else f"{ratio * 100:.1f} %"


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def findings(v: Vitals, t: VitalsThresholds, now: float) -> list[Finding]:
    out: list[Finding] = []
    for fs in v.filesystems:
        what = f"{fs.mount} ({', '.join(fs.roles)})"
        if fs.free_ratio < t.disk_free:
            out.append(
                Finding(
                    "critical" if fs.free_ratio < DISK_CRITICAL else "warning",
                    "disk-low",
                    f"{what}: {_pct(fs.free_ratio)} free ({_size(fs.free_bytes)}; threshold {_pct(t.disk_free)})",
                    "free space: old logs (logrotate), the mail queue (`mbtop queue`), database dumps; "
                    "Postfix refuses mail when the queue's filesystem runs short (queue_minfree)",
                    path=fs.mount,
                )
            )
        if fs.free_inodes_ratio is not None and fs.free_inodes_ratio < t.inode_free:
            out.append(
                Finding(
                    "warning",
                    "inodes-low",
                    f"{what}: {_pct(fs.free_inodes_ratio)} of inodes free (threshold {_pct(t.inode_free)})",
                    "many small files: the mail queue, spam quarantine or sessions; remove them or grow the filesystem",
                    path=fs.mount,
                )
            )
    for cert in v.certificates:
        left = days_left(cert, now)
        if left is None:
            continue
        users = ", ".join(cert.used_by)
        if cert.not_after is not None and cert.not_after <= now:
            out.append(
                Finding(
                    "critical",
                    "certificate-file-expired",
                    f"certificate {cert.path} ({users}) expired {-left} day(s) ago",
                    "renew it (certbot renew, or the CA's process), then reload the services that use it",
                    path=cert.path,
                )
            )
        elif left <= t.cert_days:
            out.append(
                Finding(
                    "warning",
                    "certificate-file-expiring",
                    f"certificate {cert.path} ({users}) expires in {left} day(s) (threshold {t.cert_days})",
                    "renew it before it expires, then reload the services that use it",
                    path=cert.path,
                )
            )
    if v.clock_synchronized is False:
        out.append(
            Finding(
                "warning",
                "clock-unsynchronized",
                f"the clock is not synchronised ({v.clock_source})",
                "run a time daemon (chrony, systemd-timesyncd, ntpsec): DKIM signatures, TLS and log times "
                "depend on the clock",
            )
        )
    return out


def extend(
    snap: Snapshot,
    queue: queuemodel.QueueState | None,
    vitals: Vitals | None,
    queue_thresholds: queuemodel.QueueThresholds,
    vitals_thresholds: VitalsThresholds,
) -> Snapshot:
    """``snap`` with the queue and the vitals, their findings among the others (worst first)."""
    extra: list[Finding] = []
    if queue is not None:
        extra += queuemodel.findings(queue, queue_thresholds)
    if vitals is not None:
        extra += findings(vitals, vitals_thresholds, snap.taken_at)
    found = sorted((*snap.findings, *extra), key=lambda f: -SEVERITY_RANK[f.severity])
    return dataclasses.replace(
        snap,
        findings=tuple(found),
        status=worst([snap.status, *(f.severity for f in extra)]),
        queue=queue,
        vitals=vitals,
    )

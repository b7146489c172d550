"""The kernel's TCP extension counters (/proc/net/netstat), e.g. ListenOverflows: cumulative, per netns."""

from __future__ import annotations

from pathlib import Path


def parse(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    lines = text.splitlines()
    for head, values in zip(lines[::2], lines[1::2], strict=False):
        names, nums = head.split(), values.split()
        if not names or names[0] != nums[0] or names[0] != "TcpExt:":
            continue
        for name, num in zip(names[1:], nums[1:], strict=False):
            if num.lstrip("-").isdigit():
                out[name] = int(num)
    return out


def read(proc: Path = Path("/proc")) -> dict[str, int]:
    try:
        return parse((proc / "net" / "netstat").read_text())
    except OSError:
        return {}

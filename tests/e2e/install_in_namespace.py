"""Run by tests/e2e/test_install.py inside ``unshare --mount``: the quick start's install on a
fresh clone, then ``man mbtop``, ``mbtop <TAB><TAB>`` in a real login bash (tmux), then
``scripts/install --uninstall``, comparing the file lists of the areas it touches before and after.

/usr/local, /opt and /etc/logrotate.d are overlays (a tmpfs upper layer) private to this mount
namespace: the install writes where it would on a real machine, and nothing outside survives.
Exits non-zero with the reason on the first failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(sys.argv[1])
WORK = Path(sys.argv[2])
sys.path.insert(0, str(REPO))

from tests.support.tmux import Tmux  # noqa: E402

# The agent's service goes to /etc/systemd/system, or /etc/init.d without systemd: overlaid too.
AREAS = ("/usr/local", "/etc/logrotate.d", *(a for a in ("/etc/systemd/system", "/etc/init.d") if os.path.isdir(a)))


def run(*argv: str, cwd: Path | None = None) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def overlays() -> None:
    layers = WORK / "layers"
    layers.mkdir()
    run("mount", "-t", "tmpfs", "tmpfs", str(layers))
    for area in (*AREAS, "/opt"):
        name = area.strip("/").replace("/", "_")
        up, work = layers / name / "up", layers / name / "work"
        up.mkdir(parents=True)
        work.mkdir()
        run("mount", "-t", "overlay", "overlay", "-o", f"lowerdir={area},upperdir={up},workdir={work}", area)


def listing() -> set[str]:
    out: set[str] = set()
    for area in AREAS:
        for root, dirs, files in os.walk(area):
            out.update(os.path.join(root, n) for n in [*dirs, *files])
    out.update(f"/opt/{n}" for n in os.listdir("/opt"))
    return out


def main() -> None:
    overlays()
    # A fresh machine: no earlier mbtop (the overlay hides the removal from the real system).
    shutil.rmtree("/opt/mbtop", ignore_errors=True)
    for old in ("/usr/local/bin/mbtop", "/usr/local/share/man/man1/mbtop.1", "/etc/logrotate.d/mbtop",
                "/etc/systemd/system/mbtop-agent.service", "/etc/init.d/mbtop-agent"):  # fmt: skip
        Path(old).unlink(missing_ok=True)
    shutil.rmtree("/usr/local/share/mbtop", ignore_errors=True)
    before = listing()
    clone = WORK / "clone"
    run("git", "clone", "-q", str(REPO), str(clone))
    said = run("scripts/install", cwd=clone)
    print(said.strip().splitlines()[-1])

    page = run("man", "-P", "cat", "mbtop")
    for needed in ("MBTOP(1)", "EXIT STATUS", "SECURITY", "free-port"):
        if needed not in page:
            sys.exit(f"man mbtop lacks {needed!r}:\n{page[:2000]}")
    if shutil.which("logrotate"):  # its own parser reads the rule (--debug changes nothing)
        state = str(WORK / "logrotate.state")
        rotate = subprocess.run(["logrotate", "--debug", "--state", state, "/etc/logrotate.d/mbtop"],
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        if rotate.returncode != 0 or "/var/log/mbtop/actions.log" not in rotate.stderr + rotate.stdout:
            sys.exit(f"logrotate refuses /etc/logrotate.d/mbtop:\n{rotate.stderr}")
        print("logrotate ok")

    # The agent's service: installed (not enabled), pointing at the installed mbtop.
    unit = Path("/etc/systemd/system/mbtop-agent.service")
    agent = unit if Path("/run/systemd/system").is_dir() else Path("/etc/init.d/mbtop-agent")
    text = agent.read_text()
    if "ExecStart=/opt/mbtop/bin/mbtop agent" not in text and "DAEMON=/opt/mbtop/bin/mbtop\n" not in text:
        sys.exit(f"{agent} does not run /opt/mbtop/bin/mbtop agent")
    if agent.name == "mbtop-agent":
        run("sh", "-n", str(agent))
        status = subprocess.run([str(agent), "status"], capture_output=True, text=True, timeout=30)
        if status.returncode == 0:
            sys.exit(f"{agent} status says running right after install: {status.stdout}")
    print("agent service ok")

    # For Prometheus and Grafana: the rules as promtool reads them, the dashboard as JSON.
    share = Path("/usr/local/share/mbtop")
    run("promtool", "check", "rules", str(share / "prometheus" / "mbtop-alerts.yml"))
    if "job_name: mbtop" not in (share / "prometheus" / "prometheus-example.yml").read_text():
        sys.exit("the scrape config example has no mbtop job")
    if json.loads((share / "grafana" / "mbtop-dashboard.json").read_text())["uid"] != "mbtop-gateways":
        sys.exit("the installed dashboard is not mbtop's")
    print("prometheus files ok")

    home = WORK / "home"
    home.mkdir()
    with Tmux(["bash", "-l"], 160, 40, env={"HOME": str(home)}) as t:
        t.send("mbtop ", "Tab", "Tab")
        t.wait_for(lambda s: "snapshot" in s and "free-port" in s and "config" in s, timeout=30)
        t.send("C-u", "mbtop free-port ", "Tab", "Tab")
        t.wait_for(lambda s: "10031" in s and "587" in s, timeout=30)
        t.send("C-u", "mbtop restart mb-r", "Tab")
        t.wait_for("mbtop restart mb-rpcd", timeout=30)
        t.send("C-u", "mbtop --theme mbtop-h", "Tab")
        t.wait_for("mbtop --theme mbtop-high-contrast", timeout=30)
        t.send("C-u")
    # zsh: its default fpath has /usr/local/share/zsh/site-functions; compinit as a zshrc would.
    with Tmux(["zsh", "-f"], 160, 40, env={"HOME": str(home)}) as t:
        t.send("autoload -Uz compinit && compinit -u", "Enter")
        t.send("mbtop free-port ", "Tab")
        t.wait_for(lambda s: "10031" in s and "587" in s, timeout=30)
        t.send("C-u", "mbtop restart mb-r", "Tab")
        t.wait_for("mbtop restart mb-rpcd", timeout=30)
    print("completion ok")

    run("scripts/install", "--uninstall", cwd=clone)
    after = listing()
    if after != before:
        sys.exit(f"left behind: {sorted(after - before)}; removed: {sorted(before - after)}")
    print("uninstall ok")


if __name__ == "__main__":
    main()

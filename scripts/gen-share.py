#!/usr/bin/env python3
"""Generate the man page and the bash/zsh completion from mbtop's own argument parser.

    .venv/bin/python scripts/gen-share.py           # rewrite mbtop/share/{man,completion}
    .venv/bin/python scripts/gen-share.py --check   # exit 1 when a committed file is stale

The man page comes from argparse-manpage with the hand-written sections of
``mbtop/share/man/mbtop.1.sections`` (FILES, EXIT STATUS, EXAMPLES, SECURITY); the completion from
shtab, with the catalog's ports, socket paths and service names and the bundled themes as the
values of the arguments that take them. Both generators are dev dependencies; the generated files
are committed and shipped in the wheel (package data), so an install needs neither.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import shtab
from argparse_manpage.manpage import Manpage

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mbtop import __version__  # noqa: E402
from mbtop.catalog import load_reference  # noqa: E402
from mbtop.cli import _parser  # noqa: E402

SHARE = REPO / "mbtop" / "share"
MAN_DATE = "2026-11-28"  # the page's date: fixed so that the output depends on the parser alone


def _actions(parser: argparse.ArgumentParser) -> dict[str, list[argparse.Action]]:
    """dest -> actions, over the parser and every subcommand."""
    out: dict[str, list[argparse.Action]] = {}
    todo = [parser]
    while todo:
        p = todo.pop()
        for action in p._actions:
            out.setdefault(action.dest, []).append(action)
            if isinstance(action, argparse._SubParsersAction):
                todo.extend(action.choices.values())
    return out


def completion_parser() -> tuple[argparse.ArgumentParser, dict[str, str]]:
    catalog = load_reference()
    themes = sorted(p.stem for p in (REPO / "mbtop" / "ui" / "themes").glob("*.toml"))
    values = {
        "ports": " ".join(str(p.port) for p in catalog.ports),
        "sockets": " ".join(s.path for s in catalog.sockets),
        "services": " ".join(s.name for s in catalog.services),
        "themes": " ".join(themes),
    }
    parser = _parser()
    by_dest = _actions(parser)
    wanted = {"port": "ports", "paths": "sockets", "service": "services", "theme": "themes"}
    for dest, kind in wanted.items():
        for action in by_dest[dest]:
            action.complete = {  # type: ignore[attr-defined]
                "bash": f"_mbtop_{kind}",
                "zsh": f"({values[kind]})" if kind != "themes" else "_mbtop_themes",
            }
    for dest in ("config", "replay", "file", "check"):
        for action in by_dest.get(dest, []):
            action.complete = shtab.FILE  # type: ignore[attr-defined]
    return parser, values


def bash() -> str:
    parser, v = completion_parser()
    preamble = "\n".join(
        [
            "# mbtop's documented ports, socket paths, services and themes (from its catalog)",
            *(f'_mbtop_{k}() {{ compgen -W {shlex.quote(v[k])} -- "$1"; }}' for k in ("ports", "sockets", "services")),
            "_mbtop_themes() {",
            f'  compgen -W "{v["themes"]} $(cd /etc/mbtop/themes 2>/dev/null && ls -- *.toml 2>/dev/null'
            ' | sed s/\\\\.toml$//)" -- "$1"',
            '  [[ $1 == */* || $1 == .* ]] && compgen -f -- "$1"',
            "}",
        ]
    )
    return shtab.complete(parser, "bash", preamble={"bash": preamble})


def zsh() -> str:
    parser, v = completion_parser()
    preamble = "\n".join(
        [
            "_mbtop_themes() {",
            f"  _alternative 'themes:theme:({v['themes']})' 'files:theme file:_files'",
            "}",
        ]
    )
    return shtab.complete(parser, "zsh", preamble={"zsh": preamble})


def man() -> str:
    page = Manpage(
        _parser(),
        {
            "project_name": "mbtop",
            "version": __version__,
            "manual_title": "mbtop manual",
            "date": MAN_DATE,
            "include": str(SHARE / "man" / "mbtop.1.sections"),
            "description": "live monitor of a Mailborder gateway's documented ports and sockets",
        },
    )
    return str(page)


FILES = {
    SHARE / "man" / "mbtop.1": man,
    SHARE / "completion" / "mbtop.bash": bash,
    SHARE / "completion" / "_mbtop": zsh,
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail when a committed file differs from a fresh one")
    args = ap.parse_args()
    stale = []
    for path, make in FILES.items():
        text = make()
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(REPO)))
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO)}")
    if stale:
        print(f"stale: {', '.join(stale)} (run: .venv/bin/python scripts/gen-share.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

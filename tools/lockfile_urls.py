"""Keep frontend/package-lock.json free of web addresses: npm records each package's
`funding` links in it, and no lock file of this project may name an address.

    python tools/lockfile_urls.py          # exit 1 naming the lines that hold an address
    python tools/lockfile_urls.py --strip  # drop every `funding` entry (after `npm install`)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

LOCK = Path(__file__).resolve().parents[1] / "frontend" / "package-lock.json"
ADDRESS = re.compile(r"https?://")


def strip(path: Path) -> int:
    lock = json.loads(path.read_text())
    removed = 0
    for package in lock.get("packages", {}).values():
        if package.pop("funding", None) is not None:
            removed += 1
    path.write_text(json.dumps(lock, indent=2) + "\n")
    return removed


def addresses(path: Path) -> list[str]:
    return [f"{path.name}:{n}: {line.strip()}" for n, line in enumerate(path.read_text().splitlines(), 1)
            if ADDRESS.search(line)]  # fmt: skip


def main(argv: list[str]) -> int:
    if "--strip" in argv:
        sys.stdout.write(f"removed {strip(LOCK)} funding entries from {LOCK.name}\n")
    found = addresses(LOCK)
    for line in found[:10]:
        sys.stdout.write(line + "\n")
    if found:
        sys.stdout.write(f"{len(found)} line(s) hold a web address: python tools/lockfile_urls.py --strip\n")
        return 1
    sys.stdout.write(f"ok {LOCK.name} names no web address\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""``make clean-versions``: keep the latest N versions of every versioned dataset under data/.

A version folder (``<filepath>/<YYYY-MM-DDTHH.MM.SS.sssZ>/``) is removed only when it is not
among its dataset's latest ``keep`` and no kept version's provenance record names it as an
input (so a kept threshold can still be walked back to its scores and manifest).

    python -m imitation_kedro.versions --keep 5 [--data data] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}\.\d{3}Z$")


def version_folders(data: Path) -> dict[Path, list[Path]]:
    """``{dataset folder: its version folders, oldest first}``."""
    found: dict[Path, list[Path]] = {}
    for path in data.rglob("*"):
        if path.is_dir() and VERSION.match(path.name):
            found.setdefault(path.parent, []).append(path)
    return {k: sorted(v, key=lambda p: p.name) for k, v in sorted(found.items())}


def _referenced(version_dir: Path) -> set[tuple[str, str]]:
    refs = set()
    for record in version_dir.glob("*.provenance.json"):
        inputs = json.loads(record.read_text()).get("inputs", {})
        for ref in inputs.values():
            if ref.get("kind") == "versioned" and ref.get("version"):
                refs.add((str(Path(ref["path"]).resolve()), ref["version"]))
    return refs


def plan_clean(data: Path, keep: int) -> list[Path]:
    """The version folders to delete (see the module docstring)."""
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}: refusing to delete every version")
    folders = version_folders(data)
    kept = {v for versions in folders.values() for v in versions[-keep:]}
    todo = list(kept)
    while todo:
        for path, version in _referenced(todo.pop()):
            candidate = Path(path) / version
            for versions in folders.values():
                for v in versions:
                    if v not in kept and v.resolve() == candidate:
                        kept.add(v)
                        todo.append(v)
    return [v for versions in folders.values() for v in versions if v not in kept]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m imitation_kedro.versions")
    parser.add_argument("--keep", type=int, default=5)
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    doomed = plan_clean(args.data, args.keep)
    for path in doomed:
        print(("would remove " if args.dry_run else "removing ") + str(path))
        if not args.dry_run:
            shutil.rmtree(path)
    print(
        f"{len(doomed)} old version folder(s) {'to remove' if args.dry_run else 'removed'}; "
        f"kept the latest {args.keep} of each dataset and every version they were made from"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Write a folder into a Hugging Face hub cache under a repo id (offline, no network)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path


def _tree_digest(folder: Path) -> str:
    digest = hashlib.sha1()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_snapshot(cache: Path, repo_id: str, folder: Path) -> Path:
    """Copy ``folder`` to ``cache/models--<org>--<name>/snapshots/<digest>`` and point ``refs/main``
    at it, the layout ``huggingface_hub`` reads with ``local_files_only`` / ``HF_HUB_OFFLINE``."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = _tree_digest(folder)
    snapshot = repo / "snapshots" / commit
    if not snapshot.is_dir():
        tmp = snapshot.with_name(f".{commit}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(folder, tmp)
        tmp.rename(snapshot)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot

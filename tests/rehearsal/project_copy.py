"""A project copy for paper-env runs: conf/paper names files shipped in the package source
(`src/.../imagenet_classes.csv`), so the copy's ``src/imitation_kedro`` links to the real package (read only)."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.project import PROJECT_ROOT, copy_project


def paper_project_copy(dest: Path) -> Path:
    project = copy_project(dest)
    package = PROJECT_ROOT / "src" / "imitation_kedro"
    (project / "src" / "imitation_kedro").symlink_to(package, target_is_directory=True)
    return project

"""A text report (markdown or HTML) whose figure links point at the run's own figure files.

A node cannot know the run's save version, so it links a figure by its catalog name
(``![Score vs count](rpt_threshold_figure)``); on save this dataset rewrites each name listed in
``figures`` to the path, relative to the report, of that figure's file in the same run version
(Kedro's versioned layout ``<filepath>/<version>/<file name>``). The report then opens in any
editor or viewer next to its figures, and kedro-viz previews it as HTML with the figures inlined.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import get_filepath_str
from kedro_datasets._typing import HTMLPreview
from kedro_datasets.text import TextDataset

_IMG_SRC = re.compile(r'(<img [^>]*src=")([^":]+)(")')


class ReportDataset(TextDataset):
    """``text.TextDataset`` that resolves figure links on save and previews as HTML.

    Example::

        rpt_report:
          type: imitation_kedro.datasets.report.ReportDataset
          filepath: data/08_reporting/report.md
          figures: {rpt_figure: data/08_reporting/figure.png}
          versioned: true
    """

    def __init__(self, *, filepath: str, figures: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(filepath=filepath, **kwargs)
        self._figures = dict(figures or {})

    def resolve_links(self, text: str, save_path: str) -> str:
        """``text`` with every ``](<figure name>)`` link replaced by its file's relative path."""
        version = self.resolve_save_version() if self._version is not None else None
        here = os.path.dirname(os.path.abspath(save_path))
        for name, filepath in self._figures.items():
            target = Path(filepath)
            if version is not None:
                target = target / version / target.name
            link = PurePosixPath(Path(os.path.relpath(os.path.abspath(target), here))).as_posix()
            text = text.replace(f"]({name})", f"]({link})").replace(
                f'src="{name}"', f'src="{link}"'
            )
        return text

    def save(self, data: str) -> None:
        save_path = get_filepath_str(self._get_save_path(), self._protocol)
        with self._fs.open(save_path, **self._fs_open_args_save) as fs_file:
            fs_file.write(self.resolve_links(data, save_path))
        self._invalidate_cache()

    def preview(self) -> HTMLPreview:
        """The report as HTML (markdown rendered), local figures inlined (kedro-viz preview)."""
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        text = self.load()
        html = render_markdown(text) if load_path.endswith(".md") else text
        return HTMLPreview(inline_images(html, os.path.dirname(load_path)))


def render_markdown(text: str) -> str:
    """CommonMark with pipe tables (markdown-it-py), as an HTML fragment."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").render(text)


def inline_images(html: str, folder: str) -> str:
    """``<img src="relative/file.png">`` replaced by data URIs, so the HTML stands alone."""

    def _inline(match: re.Match[str]) -> str:
        path = Path(folder) / match.group(2)
        if not path.is_file():
            return match.group(0)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"{match.group(1)}data:image/png;base64,{data}{match.group(3)}"

    return _IMG_SRC.sub(_inline, html)

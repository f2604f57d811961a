"""Self-building stand-ins for the backdoor rehearsal (``kedro run --env rehearsal``).

The paper configuration reads a CC3M-schema ``train.csv`` (``image,caption``, JPEG files under
``data.image_root``) and ImageNet-1K val's ``labels.csv`` (``image,label``, label = class index
into the class file). These datasets load such a table and, the first time, generate it with its
image files: procedural images (colour and texture from the class index) of varied sizes and
aspect ratios, so centre-crop and squash differ, captions naming CLIP's ImageNet class names.
Generation is seeded, written to a temporary folder and renamed into place (atomic), and keyed
on its parameters: a folder built with other parameters is refused, never overwritten.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from kedro.io import AbstractDataset
from kedro.io.core import DatasetError
from PIL import Image

KEY_FILE = "standin.json"
_SCENES = ["on a table", "in the garden", "at the market", "close up", "on a white background"]


def _class_names(path: str) -> list[str]:
    with open(path, newline="") as f:
        return [row["concept"] for row in csv.DictReader(f)]


def _image(cls: int, rng: np.random.Generator, sizes: tuple[int, int]) -> Image.Image:
    w, h = (int(v) for v in rng.integers(sizes[0], sizes[1] + 1, 2))
    colour = np.array([(cls * 37) % 256, (cls * 91) % 256, (cls * 53) % 256], dtype=float)
    yy, xx = np.mgrid[0:h, 0:w]
    period = 3 + cls % 7
    mask = [(yy // period) % 2 == 0, (xx // period) % 2 == 0, ((yy + xx) // period) % 2 == 0][
        cls % 3
    ]
    img = np.where(mask[..., None], colour, 255 - colour) + rng.normal(0, 10, (h, w, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


class _StandInTable(AbstractDataset[None, pd.DataFrame]):
    """A generated table of image paths under ``path`` (its CSV is ``path/<table>``)."""

    table = ""

    def __init__(  # noqa: PLR0913
        self,
        path: str,
        classes: str,
        n_rows: int,
        n_classes: int = 100,
        must_include: list[str] | None = None,
        sizes: tuple[int, int] = (48, 96),
        seed: int = 0,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._path, self._classes = Path(path), classes
        self._spec = {
            "kind": type(self).__name__,
            "n_rows": int(n_rows),
            "n_classes": int(n_classes),
            "must_include": list(must_include or []),
            "sizes": [int(s) for s in sizes],
            "seed": int(seed),
        }
        self.metadata = metadata

    def _class_ids(self, names: list[str], rng: np.random.Generator) -> np.ndarray:
        """The classes the stand-in draws from: the named ones plus a seeded sample."""
        first = {n: i for i, n in reversed(list(enumerate(names)))}
        fixed = [first[n] for n in self._spec["must_include"]]
        rest = np.setdiff1d(np.arange(len(names)), fixed)
        extra = rng.choice(rest, self._spec["n_classes"] - len(fixed), replace=False)
        return np.concatenate([fixed, extra]).astype(int)

    def _rows(self, folder: Path, names: list[str]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _build(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self._path.parent, prefix=f".{self._path.name}-"))
        try:
            rows = self._rows(tmp, _class_names(self._classes))
            pd.DataFrame(rows).to_csv(tmp / self.table, index=False)
            (tmp / KEY_FILE).write_text(json.dumps(self._spec, sort_keys=True))
            tmp.rename(self._path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def load(self) -> pd.DataFrame:
        self._spec["class_file"] = hashlib.sha256(Path(self._classes).read_bytes()).hexdigest()[:16]
        key_file = self._path / KEY_FILE
        if not key_file.is_file():
            if self._path.exists():
                raise DatasetError(
                    f"{self._path} exists but is no backdoor stand-in ({KEY_FILE} missing): "
                    "move it away or point the rehearsal catalog elsewhere"
                )
            self._build()
        elif json.loads(key_file.read_text()) != self._spec:
            raise DatasetError(
                f"{self._path} holds a stand-in built with other parameters "
                f"({key_file.read_text()} != {json.dumps(self._spec, sort_keys=True)}); delete the "
                "folder to rebuild it"
            )
        return pd.read_csv(self._path / self.table, keep_default_na=False)

    def save(self, data: None) -> None:
        raise DatasetError(f"{type(self).__name__} builds itself on load; it is not saved")

    def _exists(self) -> bool:
        return True  # built on first load

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), **self._spec}


class StandInCorpusDataset(_StandInTable):
    """CC3M schema: ``train.csv`` with ``image`` (relative JPEG path) and ``caption``."""

    table = "train.csv"

    def _rows(self, folder: Path, names: list[str]) -> list[dict[str, Any]]:
        rng = np.random.default_rng(self._spec["seed"])
        ids = self._class_ids(names, rng)
        (folder / "images").mkdir()
        rows = []
        for i in range(self._spec["n_rows"]):
            cls = int(ids[rng.integers(len(ids))])
            rel = f"images/{i:07d}.jpg"
            (folder / rel).write_bytes(_jpeg(_image(cls, rng, tuple(self._spec["sizes"]))))
            scene = _SCENES[int(rng.integers(len(_SCENES)))]
            rows.append({"image": rel, "caption": f"a photo of a {names[cls]} {scene}"})
        return rows


class StandInImageNetValDataset(_StandInTable):
    """ImageNet val schema: ``labels.csv`` with ``image`` (relative JPEG path) and ``label``
    (the class index into the class file)."""

    table = "labels.csv"

    def _rows(self, folder: Path, names: list[str]) -> list[dict[str, Any]]:
        rng = np.random.default_rng(self._spec["seed"] + 1)
        ids = self._class_ids(names, np.random.default_rng(self._spec["seed"]))
        rows = []
        for i in range(self._spec["n_rows"]):
            cls = int(ids[rng.integers(len(ids))])
            rel = f"{cls:04d}/val_{i:06d}.JPEG"
            (folder / rel).parent.mkdir(exist_ok=True)
            (folder / rel).write_bytes(_jpeg(_image(cls, rng, tuple(self._spec["sizes"]))))
            rows.append({"image": rel, "label": cls})
        return rows

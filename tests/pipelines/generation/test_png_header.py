"""Resume reads each generated PNG's text chunks, not its pixels (issue 20 leftover)."""

from __future__ import annotations

import pytest
from PIL import Image, PngImagePlugin

from imitation_kedro.datasets.atomic import AtomicImageDataset
from imitation_kedro.datasets.png_header import PngHeader, PngHeaderDataset
from imitation_kedro.pipelines.generation.fingerprint import (
    PIXELS_KEY,
    RECORD_KEY,
    dump_record,
    pixels_sha256,
)
from imitation_kedro.pipelines.generation.resume import CORRUPT, EXISTING, image_status

RECORD = {"fingerprint": "f" * 64, "steps": 5, "seed": 3}


def _png(path, *, pixels_key: bool = True) -> Image.Image:
    image = Image.effect_noise((64, 48), 60).convert("RGB")
    image.info[RECORD_KEY] = dump_record(RECORD)
    if pixels_key:
        image.info[PIXELS_KEY] = pixels_sha256(image)
    AtomicImageDataset(filepath=str(path)).save(image)
    return image


@pytest.fixture
def no_decoding(monkeypatch):
    """Any pixel decoding of a PNG fails the test."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", refuse)


def test_header_gives_record_and_pixel_hash_without_decoding(tmp_path, no_decoding):
    original = _png(tmp_path / "a.png")
    header = PngHeaderDataset(filepath=str(tmp_path / "a.png")).load()
    assert isinstance(header, PngHeader) and header.complete
    assert header.size == (64, 48) and header.mode == "RGB"
    status, reason, record, pixels = image_status("a", PngHeaderDataset(str(tmp_path / "a.png")).load)
    assert (status, reason) == (EXISTING, "")
    assert record == dump_record(RECORD) and pixels == pixels_sha256(original)


def test_truncated_png_is_corrupt_without_decoding(tmp_path, no_decoding):
    _png(tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "a.png").write_bytes(data[: len(data) - 40])  # a write cut short
    status, reason, _, _ = image_status("a", PngHeaderDataset(str(tmp_path / "a.png")).load)
    assert status == CORRUPT and "IEND" in reason
    (tmp_path / "a.png").write_bytes(data[:30])  # cut inside the header
    assert image_status("a", PngHeaderDataset(str(tmp_path / "a.png")).load)[0] == CORRUPT


def test_older_png_without_pixel_hash_is_decoded_once(tmp_path):
    original = _png(tmp_path / "a.png", pixels_key=False)
    status, _, record, pixels = image_status("a", PngHeaderDataset(str(tmp_path / "a.png")).load)
    assert status == EXISTING and record == dump_record(RECORD)
    assert pixels == pixels_sha256(original)


def test_header_dataset_is_read_only(tmp_path):
    from kedro.io.core import DatasetError

    with pytest.raises(DatasetError, match="read-only"):
        PngHeaderDataset(filepath=str(tmp_path / "a.png")).save(b"png")

"""Build the paper's input tables once, before the first ``kedro run --env paper``.

``raw_concepts`` (concept, slug, domain, concept_set, aliases, published_count) from FIT's public
name lists (celebrities, politicians, classical artists with the authors' LAION-2B-en counts)
plus the user's modern set, and ``raw_reference_images`` (concept, ref_index, png) from one
folder of images per concept. The paper env never writes raw data, so these are made here::

    python -m imitation_kedro.pipelines.frequency.concept_tables concepts \\
        --shared /work/shared/data --modern my_modern_artists.csv \\
        --out data/01_raw/paper/concepts.parquet
    python -m imitation_kedro.pipelines.frequency.concept_tables references \\
        --concepts data/01_raw/paper/concepts.parquet --folders refs/ \\
        --out data/01_raw/paper/references.parquet

Expected inputs: ``--modern`` a CSV with a column ``name`` (one modern artist per row, FIT
§2.1); ``--folders`` holds ``<slug or concept name>/<images>`` (jpg, png, webp; sorted by file
name, the order gives ``ref_index``; faces: gold photos, art: WikiArt paintings, >= 8 each).
An existing output file is never overwritten.
"""

from __future__ import annotations

import argparse
import io
import logging
from pathlib import Path

import pandas as pd

from imitation_kedro.core.slugs import slugify, unique_slugs

logger = logging.getLogger(__name__)

LISTS = (  # (file, name column, concept_set, domain)
    ("fit_celebrities.csv", "name", "celebrities", "faces"),
    ("fit_politicians.csv", "name", "politicians", "faces"),
    ("fit_classical_artists_laion2b_counts.csv", "artist_name", "classical", "art"),
)
PUBLISHED = "count_this_artist_artworks_in_laion_images"  # FIT's released per-artist estimate
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def paper_concepts(shared: Path, modern: Path | None = None) -> pd.DataFrame:
    """One row per concept of the paper's sets (first occurrence of a name wins, case-blind)."""
    frames = []
    for file, column, concept_set, domain in LISTS:
        table = pd.read_csv(shared / file)
        if column not in table.columns:
            raise ValueError(f"{shared / file}: expected a column {column!r}, found {list(table)}")
        frame = pd.DataFrame({"concept": table[column].astype(str).str.strip()})
        frame["domain"], frame["concept_set"] = domain, concept_set
        frame["published_count"] = (
            pd.to_numeric(table[PUBLISHED], errors="coerce") if PUBLISHED in table else None
        )
        frames.append(frame)
    if modern is not None:
        table = pd.read_csv(modern)
        if "name" not in table.columns:
            raise ValueError(f"{modern}: the modern set needs a column 'name', found {list(table)}")
        frame = pd.DataFrame({"concept": table["name"].astype(str).str.strip()})
        frame["domain"], frame["concept_set"], frame["published_count"] = "art", "modern", None
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out = out[out["concept"] != ""]
    key = out["concept"].map(slugify)  # "Viktor Orban" and "Viktor Orbán" are one person
    dropped = out.loc[key.duplicated(), "concept"].tolist()
    if dropped:
        logger.warning("%d duplicate name(s) dropped (first kept): %s", len(dropped), dropped)
    out = out[~key.duplicated()].reset_index(drop=True)
    out.insert(1, "slug", out["concept"].map(unique_slugs(out["concept"].tolist())))
    out["aliases"] = [[] for _ in range(len(out))]
    out["published_count"] = out["published_count"].astype("Float64")
    return out[["concept", "slug", "domain", "concept_set", "aliases", "published_count"]]


def reference_images(concepts: pd.DataFrame, folders: Path) -> pd.DataFrame:
    """concept, ref_index, png from ``folders/<slug or name>/``; a missing folder is an error."""
    from PIL import Image

    rows, missing = [], []
    for concept, slug in zip(concepts["concept"], concepts["slug"], strict=True):
        folder = next((folders / n for n in (slug, concept) if (folders / n).is_dir()), None)
        if folder is None:
            missing.append(concept)
            continue
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for i, path in enumerate(files):
            with Image.open(path) as img:
                buf = io.BytesIO()
                img.convert("RGB").save(buf, format="PNG")
            rows.append((concept, i, buf.getvalue()))
    if missing:
        raise FileNotFoundError(
            f"no reference folder for {len(missing)} concept(s) under {folders} (named by slug "
            f"or concept): {missing[:10]}"
        )
    return pd.DataFrame(rows, columns=["concept", "ref_index", "png"])


def _write(table: pd.DataFrame, out: Path) -> None:
    if out.exists():
        raise FileExistsError(f"{out} exists: move it away first (raw data is never overwritten)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    table.to_parquet(tmp, index=False)
    tmp.replace(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    c = sub.add_parser("concepts")
    c.add_argument("--shared", type=Path, default=Path("/work/shared/data"))
    c.add_argument("--modern", type=Path)
    c.add_argument("--out", type=Path, default=Path("data/01_raw/paper/concepts.parquet"))
    r = sub.add_parser("references")
    r.add_argument("--concepts", type=Path, default=Path("data/01_raw/paper/concepts.parquet"))
    r.add_argument("--folders", type=Path, required=True)
    r.add_argument("--out", type=Path, default=Path("data/01_raw/paper/references.parquet"))
    a = ap.parse_args(argv)
    if a.what == "concepts":
        table = paper_concepts(a.shared, a.modern)
    else:
        table = reference_images(pd.read_parquet(a.concepts), a.folders)
    _write(table, a.out)
    print(f"wrote {len(table)} rows to {a.out}")


if __name__ == "__main__":
    main()

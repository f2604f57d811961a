"""Schemas of the handoff tables: one source for save-time validation and the data dictionary.

Catalog entries declare ``validator: {class: imitation_kedro.schemas.TableValidator,
options: {table: <name>}}`` (Kedro 1.7's catalog-native validation), so a renamed or retyped
column fails loudly on save instead of breaking the receiving team.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_KINDS = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "bytes": "binary",
    "list": "list",
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # one of _KINDS
    description: str
    nullable: bool = False


@dataclass(frozen=True)
class TableSchema:
    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()

    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _cols(*rows: tuple) -> tuple[Column, ...]:
    return tuple(Column(*row) for row in rows)


SCHEMAS: dict[str, TableSchema] = {
    s.name: s
    for s in [
        TableSchema(
            "prm_concept_frequencies",
            "Estimated number of pre-training images of each concept (FIT's x-axis).",
            _cols(
                ("concept", "str", "Concept display name, as in the concept table."),
                ("domain", "str", "Concept domain (miniature: style/motif; paper: faces/art)."),
                ("captions", "int", "Pre-training captions that phrase-match the concept or an alias."),
                ("sampled", "int", "Caption hits sampled for image verification (capped per concept)."),
                ("downloaded", "int", "Sampled images obtained and passing cleaning."),
                ("verified", "int", "Downloaded images verified to show the concept."),
                ("estimate", "float", "verified x captions / downloaded: the estimated image count.", True),
                ("ci_low", "float", "Lower bound of the Wilson interval, propagated to the count.", True),
                ("ci_high", "float", "Upper bound of the Wilson interval, propagated to the count.", True),
                ("status", "str", "ok, no_captions, or no_images (captions but no usable image: estimate empty)."),
            ),
            key=("concept",),
        ),
        TableSchema(
            "prm_imitation_scores",
            "How closely each model's generations imitate each concept, per prompt (FIT's y-axis).",
            _cols(
                ("concept", "str", "Concept display name."),
                ("domain", "str", "Concept domain."),
                ("model", "str", "Text-to-image model key (as in generation parameters)."),
                ("prompt_id", "int", "Index of the prompt template."),
                ("score", "float", "Mean cosine similarity of the prompt's generations to the top-k references."),
                ("score_var", "float", "Variance over generated images of the per-image score."),
                ("n_generated", "int", "Images generated for this concept and prompt."),
                ("n_used", "int", "Images scored (faces: exactly one face)."),
                ("n_refs", "int", "References selected (top-k closest to the generated set)."),
                ("ref_source", "str", "Where references came from: pretraining or curated."),
                ("zero_face_rate", "float", "Share of generations with no face (faces domain; empty for domains without a face detector).", True),
            ),
            key=("concept", "model", "prompt_id"),
        ),
        TableSchema(
            "out_generation_manifest",
            "One row per generated image: what was asked, with which seed and settings, and where it is.",
            _cols(
                ("model", "str", "Text-to-image model key."),
                ("concept", "str", "Concept display name."),
                ("slug", "str", "Path-safe concept slug."),
                ("domain", "str", "Concept domain."),
                ("prompt_id", "int", "Index of the prompt template."),
                ("prompt", "str", "The prompt text sent to the model."),
                ("index", "int", "Image index within the prompt."),
                ("seed", "int", "Generator seed of this image (stable key, independent of batching)."),
                ("path", "str", "Partition id of the PNG in out_generated_images."),
                ("steps", "int", "Denoising steps."),
                ("guidance_scale", "float", "Classifier-free guidance scale."),
                ("height", "int", "Image height in pixels."),
                ("width", "int", "Image width in pixels."),
                ("scheduler", "str", "Scheduler class used.", True),
                ("dtype", "str", "Model dtype."),
                ("duration_s", "float", "Seconds spent rendering this image's batch, per image.", True),
            ),
            key=("model", "concept", "prompt_id", "index"),
        ),
        TableSchema(
            "out_thresholds",
            "Imitation thresholds per (domain, model, method), with uncertainty and the parameters used.",
            _cols(
                ("domain", "str", "Concept domain."),
                ("model", "str", "Text-to-image model key."),
                ("method", "str", "paper (PELT as in FIT) or segmented (OLS break, permutation p-value)."),
                ("status", "str", "found, or no_threshold with a reason."),
                ("reason", "str", "Why no threshold was reported (empty when found).", True),
                ("change_index", "float", "0-based rank (ascending count) of the first concept after the change.", True),
                ("threshold", "float", "Image count of the concept at the change point: the imitation threshold.", True),
                ("threshold_concept", "str", "The concept at the change point.", True),
                ("ci_low", "float", "Bootstrap percentile CI of the threshold, lower.", True),
                ("ci_high", "float", "Bootstrap percentile CI of the threshold, upper.", True),
                ("ci_level", "float", "Confidence level of the CI.", True),
                ("cp_ci_low", "float", "Bootstrap CI of the change index, lower.", True),
                ("cp_ci_high", "float", "Bootstrap CI of the change index, upper.", True),
                ("boot_found_rate", "float", "Share of bootstrap resamples that found a change.", True),
                ("n_resamples", "float", "Bootstrap resamples drawn.", True),
                ("p_value", "float", "p-value of 'no break' (segmented).", True),
                ("statistic", "float", "sup-F statistic (segmented).", True),
                ("mean_before", "float", "Mean score before the change.", True),
                ("mean_after", "float", "Mean score after the change.", True),
                ("second_change_index", "float", "Rank of the second change point (paper).", True),
                ("second_threshold", "float", "Image count at the second change point.", True),
                ("n_change_points", "float", "Change points PELT found.", True),
                ("penalty", "float", "PELT penalty used.", True),
                ("n_concepts", "int", "Concepts in the sorted sequence."),
                ("n_tied", "float", "Concepts sharing their count with another (ties broken by name).", True),
                ("outliers", "str", "Concepts before the change scoring > 4x the pre-change mean.", True),
                ("logistic_midpoint", "float", "Count at the midpoint of the logistic fit of score vs log count.", True),
                ("logistic_note", "str", "Notes on the logistic fit.", True),
                ("engine_check", "str", "Agreement of the fast PELT with ruptures.", True),
                ("parameters", "str", "JSON of the parameters used.", True),
            ),
        ),
    ]
}


class SchemaError(ValueError):
    """A table does not match its published schema."""


def _kind_ok(kind: str, series: Any) -> bool:
    import pandas as pd
    from pandas.api import types as pt

    non_null = series.dropna()
    if kind == "str":
        return pt.is_string_dtype(series) or pt.is_object_dtype(series) and all(
            isinstance(v, str) for v in non_null
        )
    if kind == "int":
        return pt.is_integer_dtype(series)
    if kind == "float":
        return pt.is_float_dtype(series) or pt.is_integer_dtype(series)
    if kind == "bool":
        return pt.is_bool_dtype(series)
    if kind == "bytes":
        return all(isinstance(v, (bytes, bytearray)) for v in non_null)
    if kind == "list":
        return all(isinstance(v, (list, tuple)) or hasattr(v, "__len__") for v in non_null)
    return isinstance(series, pd.Series)


def validate_table(data: Any, schema: TableSchema) -> Any:
    """Raise :class:`SchemaError` naming the table and column when ``data`` breaks ``schema``."""
    import pandas as pd

    if not isinstance(data, pd.DataFrame):
        raise SchemaError(f"{schema.name}: expected a pandas DataFrame, got {type(data).__name__}")
    expected = schema.column_names()
    missing = [c for c in expected if c not in data.columns]
    if missing:
        raise SchemaError(
            f"{schema.name}: missing column(s) {missing}; found {list(data.columns)}"
        )
    for col in schema.columns:
        series = data[col.name]
        if not col.nullable and series.isna().any():
            rows = list(series[series.isna()].index[:5])
            raise SchemaError(f"{schema.name}.{col.name}: null values at rows {rows}")
        if not _kind_ok(col.kind, series):
            raise SchemaError(
                f"{schema.name}.{col.name}: expected {_KINDS[col.kind]}, got dtype {series.dtype}"
            )
    if schema.key and data.duplicated(list(schema.key)).any():
        dup = data[data.duplicated(list(schema.key), keep=False)][list(schema.key)].head(3)
        raise SchemaError(f"{schema.name}: duplicate key {list(schema.key)}: {dup.to_dict('records')}")
    return data


class TableValidator:
    """Kedro catalog validator: ``validator: {class: ..., options: {table: name}}``."""

    def __init__(self, table: str) -> None:
        if table not in SCHEMAS:
            raise SchemaError(f"no schema named {table!r}; known: {sorted(SCHEMAS)}")
        self.schema = SCHEMAS[table]

    def validate(self, data: Any) -> Any:
        return validate_table(data, self.schema)

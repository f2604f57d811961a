"""Checks of a user's own score table (``raw_user_scores``) before it is thresholded.

Errors (the table is ambiguous, nothing sensible can be computed): no rows; a concept listed
in two domains; two names that differ only in case or spacing (``AMBER DRIFT`` and
``amber drift``). Counted, logged rejects (the concept's rows are left out and listed with the
reason in ``out_threshold_rejects`` and the report): a count that is not a whole number; a score
far outside the others of its (domain, model) group (beyond ``FAR_OUT`` interquartile ranges
from the quartiles, e.g. one 55.0 among cosine scores of 0.1-0.9), which would otherwise move a
threshold on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

NAME = "raw_user_scores"
FAR_OUT = 3.0
"""Tukey's "far out" fence: outside [Q1 - 3 IQR, Q3 + 3 IQR]."""
MIN_ROWS_FOR_RANGE = 5
REJECT_COLUMNS = ["concept_set", "domain", "model", "concept", "reason"]


class UserTableError(ValueError):
    """The user table is ambiguous or empty; the message names the rows and the fix."""


def _key(name: object) -> str:
    return " ".join(str(name).split()).casefold()


def _errors(df: pd.DataFrame) -> None:
    if df.empty:
        raise UserTableError(
            f"{NAME} has a header but no rows (columns {list(df.columns)}): nothing to threshold; "
            "fill the file or point raw_user_scores at the right one (conf/local/catalog.yml)"
        )
    names = df["concept"].dropna().astype(str).drop_duplicates()
    spellings = names.groupby(names.map(_key)).agg(lambda s: sorted(s))
    clashes = [v for v in spellings if len(v) > 1]
    if clashes:
        raise UserTableError(
            f"{NAME}: concept names that differ only in case or spacing would count as different "
            f"concepts: {clashes[:5]}; spell each concept one way"
        )
    if "domain" in df.columns:
        domains = (
            df.dropna(subset=["concept"])
            .groupby("concept")["domain"]
            .agg(lambda s: sorted(set(s.dropna().astype(str))))
        )
        two = {c: d for c, d in domains.items() if len(d) > 1}
        if two:
            raise UserTableError(
                f"{NAME}: concept(s) listed in more than one domain: "
                f"{dict(list(two.items())[:5])}; a concept belongs to one domain"
            )


def _groups(df: pd.DataFrame) -> list[str]:
    return [c for c in ("concept_set", "domain", "model") if c in df.columns]


def _reasons(df: pd.DataFrame) -> pd.Series:
    """Per row: '' or why its concept is rejected."""
    reasons = pd.Series("", index=df.index, dtype=object)
    counts = pd.to_numeric(df["count"], errors="coerce")
    fractional = counts.notna() & np.isfinite(counts) & (counts != np.floor(counts))
    reasons[fractional] = [
        f"count {v!r} is not a whole number of images" for v in df.loc[fractional, "count"]
    ]
    scores = pd.to_numeric(df["score"], errors="coerce")
    keys = _groups(df)
    grouped = scores.groupby([df[k] for k in keys]) if keys else [(None, scores)]
    for _, group in grouped:
        finite = group[np.isfinite(group)]
        if len(finite) < MIN_ROWS_FOR_RANGE:
            continue
        q1, q3 = finite.quantile(0.25), finite.quantile(0.75)
        iqr = q3 - q1
        if iqr <= 0:
            continue
        low, high = q1 - FAR_OUT * iqr, q3 + FAR_OUT * iqr
        out = finite[(finite < low) | (finite > high)].index
        for i in out:
            if not reasons[i]:
                reasons[i] = (
                    f"score {scores[i]:g} is far outside the others' range "
                    f"[{low:.3g}, {high:.3g}] ({FAR_OUT:g} IQR): check units or typos"
                )
    return reasons


def check_user_table(user: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(rows to use, rejects)``; raises :class:`UserTableError` on ambiguous input.

    A concept with any rejected row is left out whole (its other prompt rows too).
    """
    if not {"concept", "count", "score"} <= set(user.columns):
        return user, pd.DataFrame(columns=REJECT_COLUMNS)  # the column check names what lacks
    _errors(user)
    reasons = _reasons(user)
    bad = user.loc[reasons != ""].assign(reason=reasons[reasons != ""])
    bad = bad.drop_duplicates("concept")
    rejects = pd.DataFrame(
        {c: bad[c].astype(str) if c in bad.columns else "all" for c in REJECT_COLUMNS},
        columns=REJECT_COLUMNS,
    )
    if "concept_set" not in bad.columns and "domain" in bad.columns:
        rejects["concept_set"] = bad["domain"].astype(str)
    rejects = rejects.reset_index(drop=True)
    for row in rejects.itertuples(index=False):
        logger.warning("%s: concept %r rejected: %s", NAME, row.concept, row.reason)
    if len(rejects):
        logger.warning(
            "%s: %d concept(s) rejected (listed in out_threshold_rejects)", NAME, len(rejects)
        )
    kept = user[~user["concept"].isin(set(bad["concept"]))].reset_index(drop=True)
    return kept, rejects


def checked_user_table(
    user: pd.DataFrame, read: Callable[[pd.DataFrame], tuple[pd.DataFrame, pd.DataFrame]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``read`` (the pipeline's own user-table reader) on the checked rows, with the rejects of
    the checks added to the reader's."""
    kept, rejects = check_user_table(user)
    long, more = read(kept)
    frames = [f for f in (rejects, more) if len(f)]
    return long, pd.concat(frames, ignore_index=True) if frames else more

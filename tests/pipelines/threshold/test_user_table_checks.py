"""Issue 20, problem 5: a user's score table no longer passes silently when it should not.

Before each case below: exit 0 with an empty or a wrong result, no warning.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imitation_kedro.core.threshold_params import ThresholdParams
from imitation_kedro.pipelines.threshold.inputs import prepare_tables
from imitation_kedro.pipelines.threshold.user_table_checks import UserTableError


def _table(n: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "concept": [f"concept {i:02d}" for i in range(n)],
            "count": [2**i for i in range(n)],
            "score": np.round(0.2 + 0.05 * np.arange(n) + rng.normal(0, 0.01, n), 4),
            "domain": "art",
            "model": "sd11",
        }
    )


def _prepare(user: pd.DataFrame):
    return prepare_tables(None, None, user, ThresholdParams())


def test_a_concept_in_two_domains_is_an_error_naming_it():
    user = _table()
    user = pd.concat([user, user.iloc[[3]].assign(domain="faces")], ignore_index=True)
    with pytest.raises(
        UserTableError, match=r"more than one domain: \{'concept 03': \['art', 'faces'\]\}"
    ):
        _prepare(user)


def test_a_header_only_table_is_an_error():
    with pytest.raises(UserTableError, match="header but no rows"):
        _prepare(_table().iloc[:0])


def test_names_differing_only_in_case_are_an_error():
    user = _table()
    user.loc[0, "concept"], user.loc[1, "concept"] = "AMBER DRIFT", "amber drift"
    with pytest.raises(UserTableError, match=r"\['AMBER DRIFT', 'amber drift'\]"):
        _prepare(user)


def test_a_far_out_score_is_a_counted_reject_and_leaves_the_threshold_alone(caplog):
    user = _table()
    user.loc[5, "score"] = 55.0
    concepts, _, rejects, _ = _prepare(user)
    assert rejects["concept"].tolist() == ["concept 05"]
    assert "score 55 is far outside the others' range" in rejects["reason"].iloc[0]
    assert "concept 05" not in set(concepts["concept"]) and len(concepts) == 11
    assert "1 concept(s) rejected" in caplog.text


def test_non_integer_counts_are_counted_rejects():
    user = _table()
    user["count"] = user["count"].astype(float)
    user.loc[2, "count"] = 4.5
    concepts, _, rejects, _ = _prepare(user)
    assert rejects[["concept", "reason"]].to_dict("records") == [
        {"concept": "concept 02", "reason": "count 4.5 is not a whole number of images"}
    ]
    assert len(concepts) == 11


def test_a_clean_table_passes_unchanged():
    concepts, _, rejects, _ = _prepare(_table())
    assert rejects.empty and len(concepts) == 12

"""Joining, checking and sorting the inputs; every bad input gives a clear error or a reject."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imitation_kedro.core.params import ParameterError, parse_params
from imitation_kedro.core.threshold_params import ThresholdParams
from imitation_kedro.pipelines.threshold.inputs import ThresholdInputError, prepare_tables

P = ThresholdParams()


def test_join_sorts_by_count_with_name_tie_break(tables):
    freq, scores = tables([30, 10, 10, 20], [0.4, 0.1, 0.2, 0.3])
    freq.loc[1, "concept"], freq.loc[2, "concept"] = "zeta", "alpha"  # tie at count 10
    scores["concept"] = scores["concept"].replace({"concept 001": "zeta", "concept 002": "alpha"})
    concepts, prompts, rejects, summary = prepare_tables(freq, scores, None, P)
    assert list(concepts["concept"]) == ["alpha", "zeta", "concept 003", "concept 000"]
    assert list(concepts["rank"]) == [0, 1, 2, 3]
    assert concepts["score"].tolist() == pytest.approx([0.2, 0.1, 0.3, 0.4])
    assert (concepts["n_prompts"] == 3).all() and len(prompts) == 12
    assert rejects.empty and summary["n_tied_concepts"] == 2
    assert summary["inputs"]["prm_imitation_scores"]["rows"] == 12


def test_sort_is_independent_of_input_row_order(tables):
    freq, scores = tables([5, 5, 5, 1, 9], [0.1, 0.2, 0.3, 0.4, 0.5])
    a = prepare_tables(freq, scores, None, P)[0]
    b = prepare_tables(
        freq.sample(frac=1, random_state=1), scores.sample(frac=1, random_state=2), None, P
    )[0]
    pd.testing.assert_frame_equal(a, b)


def test_unmatched_concepts_are_listed_as_rejects(tables):
    freq, scores = tables([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4])
    freq = freq[freq["concept"] != "concept 001"]  # scored but never counted
    scores = scores[scores["concept"] != "concept 003"]  # counted but never scored
    concepts, _, rejects, _ = prepare_tables(freq, scores, None, P)
    assert set(concepts["concept"]) == {"concept 000", "concept 002"}
    got = dict(zip(rejects["concept"], rejects["reason"], strict=True))
    assert got == {
        "concept 001": "no row in prm_concept_frequencies for corpus laion2b_en",
        "concept 003": "no row in prm_imitation_scores",
    }
    with pytest.raises(ThresholdInputError, match="concept 001"):
        prepare_tables(freq, scores, None, ThresholdParams(on_bad_rows="error"))


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("score", np.nan, "score is missing/NaN"),
        ("score", np.inf, "score is infinite"),
        ("estimate", -3.0, "count is negative"),
        ("estimate", np.nan, "count is missing/NaN"),
        ("estimate", -np.inf, "count is infinite"),
    ],
)
def test_bad_values_are_rejected_with_reason_or_raise(tables, column, value, reason):
    freq, scores = tables([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4])
    if column == "score":
        scores.loc[scores["concept"] == "concept 002", "score"] = [0.3, value, 0.3]
    else:
        freq.loc[freq["concept"] == "concept 002", "estimate"] = value
    concepts, prompts, rejects, _ = prepare_tables(freq, scores, None, P)
    assert "concept 002" not in set(concepts["concept"]) | set(prompts["concept"])
    assert rejects.to_dict("records") == [
        {"concept_set": "style", "domain": "style", "model": "m1", "concept": "concept 002",
         "reason": reason}
    ]
    with pytest.raises(ThresholdInputError, match="concept 002"):
        prepare_tables(freq, scores, None, ThresholdParams(on_bad_rows="error"))


def test_duplicates_missing_columns_and_text_values_are_errors(tables):
    freq, scores = tables([1, 2, 3], [0.1, 0.2, 0.3])
    with pytest.raises(ThresholdInputError, match="duplicate.*concept 001"):
        prepare_tables(pd.concat([freq, freq.iloc[[1]]]), scores, None, P)
    with pytest.raises(ThresholdInputError, match="duplicate.*prompt_id"):
        prepare_tables(freq, pd.concat([scores, scores.iloc[[0]]]), None, P)
    with pytest.raises(
        ThresholdInputError, match=r"prm_imitation_scores: missing column\(s\) \['score'\]"
    ):
        prepare_tables(freq, scores.drop(columns="score"), None, P)
    with pytest.raises(ThresholdInputError, match="'estimate'"):
        prepare_tables(freq.drop(columns="estimate"), scores, None, P)
    bad = scores.astype({"score": object})
    bad.loc[0, "score"] = "high"
    with pytest.raises(ThresholdInputError, match="non-numeric.*high"):
        prepare_tables(freq, bad, None, P)
    clash = scores.copy()
    clash.loc[clash["concept"] == "concept 000", "domain"] = "motif"
    with pytest.raises(ThresholdInputError, match="disagree on a concept's domain.*concept 000"):
        prepare_tables(freq, clash, None, P)


def test_exclusions_are_removed_and_reported(tables):
    freq, scores = tables([1, 2, 3], [0.1, 0.2, 0.3])
    params = ThresholdParams(exclude=["concept 001", "Aryan Simhadri"])
    concepts, _, rejects, summary = prepare_tables(freq, scores, None, params)
    assert "concept 001" not in set(concepts["concept"])
    assert rejects["reason"].tolist() == ["excluded by parameter threshold.exclude"]
    assert summary["excluded"] == ["concept 001"]
    assert summary["exclude_not_found"] == ["Aryan Simhadri"]


def test_user_table_with_and_without_groups_and_prompts():
    user = pd.DataFrame(
        {"concept": ["b", "a", "c"], "count": [10, 10, 0], "score": [0.2, 0.1, 0.3]}
    )
    concepts, prompts, rejects, summary = prepare_tables(
        None, None, user, ThresholdParams()
    )
    assert list(concepts["concept"]) == ["c", "a", "b"]
    assert set(concepts["domain"]) == {"all"} and set(concepts["model"]) == {"all"}
    assert summary["inputs"]["raw_user_scores"]["rows"] == 3 and rejects.empty
    per_prompt = pd.DataFrame(
        {
            "concept": ["a", "a", "b", "b"],
            "count": [1, 1, 2, 2],
            "score": [0.1, 0.3, 0.5, 0.7],
            "prompt_id": [0, 1, 0, 1],
        }
    )
    concepts, prompts, _, _ = prepare_tables(
        None, None, per_prompt, ThresholdParams()
    )
    assert concepts["score"].tolist() == pytest.approx([0.2, 0.6])
    assert concepts["n_prompts"].tolist() == [2, 2] and len(prompts) == 4
    per_prompt.loc[1, "count"] = 5
    with pytest.raises(ThresholdInputError, match="count differs.*'a'"):
        prepare_tables(None, None, per_prompt, ThresholdParams())
    with pytest.raises(ThresholdInputError, match="raw_user_scores: missing column"):
        prepare_tables(None, None, user.drop(columns="count"), ThresholdParams())
    with pytest.raises(ThresholdInputError, match="duplicate"):
        prepare_tables(
            None, None, pd.concat([user, user.iloc[[0]]]), ThresholdParams()
        )


def test_missing_source_tables_name_the_remedy():
    with pytest.raises(ThresholdInputError, match="kedro run --pipelines threshold_user_table"):
        prepare_tables(None, None, None, P)


@pytest.mark.parametrize(
    "raw",
    [
        {"methods": ["pelt"]},
        {"methods": []},
        {"paper": {"penalty": 0}},
        {"bogus": 1},
        {"segmented": {"alpha": 1.5}},
        {"min_concepts": 3},
    ],
)
def test_bad_parameters_fail_with_the_key(raw):
    with pytest.raises(ParameterError):
        parse_params(ThresholdParams, raw, "threshold")

"""report.expectations: the checks a speech researcher makes, held or not, with their numbers."""

from __future__ import annotations

import pandas as pd

from minisuperb.report.expectations import check, summary_text, table

SCORES = pd.DataFrame({
    "upstream": ["fbank", "ge2e", "ge2e_random", "noise"],
    "SID_acc": [40.0, 90.0, 47.5, 10.0],
    "ASR_cer": [30.0, 60.0, 70.0, 20.0],  # lower is better: noise beats FBANK here
})
METRICS = ["ASR_cer", "SID_acc"]


def test_a_model_beats_another_on_the_listed_metrics():
    [outcome] = check(SCORES, [{"model": "ge2e", "beats": "ge2e_random", "metrics": ["SID_acc"]}], METRICS)
    assert outcome.held and outcome.evidence == "SID_acc 90 vs 47.5"
    [outcome] = check(SCORES, [{"model": "ge2e", "beats": "ge2e_random", "metrics": "every"}], METRICS)
    assert outcome.held  # CER 60 < 70 too
    [outcome] = check(SCORES, [{"model": "ge2e", "beats": "fbank", "metrics": ["ASR_cer"]}], METRICS)
    assert outcome.held is False  # a higher CER is worse


def test_none_of_a_group_beats_the_baseline_everywhere():
    expectation = {"none_of": ["ge2e_random", "noise"], "beats": "fbank", "metrics": "every"}
    [outcome] = check(SCORES, [expectation], METRICS)
    assert outcome.held and "each loses to fbank" in outcome.evidence
    better_noise = SCORES.assign(SID_acc=[40.0, 90.0, 47.5, 50.0])
    [outcome] = check(better_noise, [expectation], METRICS)
    assert outcome.held is False and outcome.evidence == "noise beats fbank on every one"


def test_a_missing_model_or_metric_is_not_checked_rather_than_held():
    outcomes = check(SCORES, [{"model": "wavlm", "beats": "fbank", "metrics": ["SID_acc"]},
                              {"model": "ge2e", "beats": "fbank", "metrics": ["SE_pesq"]}], METRICS)
    assert [o.held for o in outcomes] == [None, None]
    assert "no wavlm" in outcomes[0].evidence and "no SE_pesq" in outcomes[1].evidence
    assert summary_text(outcomes) == "Expectations: 0 of 0 hold; 2 not checked."


def test_summary_names_what_does_not_hold():
    outcomes = check(SCORES, [{"model": "ge2e", "beats": "ge2e_random", "metrics": ["SID_acc"]},
                              {"model": "ge2e", "beats": "fbank", "metrics": ["ASR_cer"]}], METRICS)
    assert summary_text(outcomes) == ("Expectations: 1 of 2 hold; not held: ge2e beats fbank on ASR_cer "
                                      "(see Expectations).")
    assert list(table(outcomes)["result"]) == ["holds", "does not hold"]

"""SUPERB and MiniSUPERB scores: the website's published values, invariances, bad tables."""

import math

import pandas as pd
import pytest

from minisuperb.cli import run as cli
from minisuperb.errors import MinisuperbError
from minisuperb.report import scoring
from minisuperb.report.paper import FIGURE

# The Public Set ("SUPERB Score") column of MiniSUPERB's results figure, which equals the SUPERB
# website's rounded Public Set score (config/reference/README.md).
PUBLISHED_PUBLIC = {model: superb for model, (_, superb) in FIGURE.items()}


def test_public_set_reproduces_the_published_scores(tmp_path):
    out = tmp_path / "public.csv"
    cli(["superb-score", str(scoring.REFERENCE_DIR / "superb_public.csv"), "--set", "public", "--output", str(out)])
    scores = pd.read_csv(out).set_index("upstream")["superb_score"]
    assert list(pd.read_csv(out).columns) == ["upstream", "superb_score"]
    for model, published in PUBLISHED_PUBLIC.items():
        assert round(scores[model]) == published, model
    # DistilHuBERT and FaST-VGS+ have no SE/SS results: a missing task leaves the score empty.
    assert math.isnan(scores["DistilHuBERT"]) and math.isnan(scores["FaST-VGS+"])
    assert ",\n" in out.read_text()  # written as an empty cell


def test_paper_set_averages_the_two_slot_filling_metrics():
    points = scoring.set_points("paper")
    row = {m: fbank for m, (fbank, _) in points.items()} | {"SF_f1": points["SF_f1"][1]}
    # SF points = (1000 + 0) / 2; ten tasks in all.
    assert scoring.score(row, points) == pytest.approx(500.0 / 10)
    assert len({scoring.task_of(m) for m in points}) == 10


@pytest.mark.parametrize("set_name", scoring.REFERENCE_SETS)
def test_fbank_scores_zero_and_sota_scores_1000_on_every_task(set_name):
    points = scoring.set_points(set_name)
    fbank_row = {m: b for m, (b, _) in points.items()}
    sota_row = {m: t for m, (_, t) in points.items()}
    assert all(v == pytest.approx(0.0) for v in scoring.task_points(fbank_row, points).values())
    assert all(v == pytest.approx(1000.0) for v in scoring.task_points(sota_row, points).values())
    assert scoring.score(sota_row, points) == pytest.approx(1000.0)


def test_lower_is_better_metrics_need_no_flip():
    points = {"ASR_wer": (23.18, 3.62)}
    assert scoring.score({"ASR_wer": 13.4}, points) == pytest.approx(500.0)
    assert scoring.score({"ASR_wer": 30.0}, points) < 0


def test_hidden_sets_score_their_own_tables(tmp_path):
    for set_name, table in (("hidden-dev", "superb_hidden_dev.csv"), ("hidden-test", "superb_hidden_test.csv")):
        out = tmp_path / f"{set_name}.csv"
        cli(["superb-score", str(scoring.REFERENCE_DIR / table), "--set", set_name, "--output", str(out)])
        scores = pd.read_csv(out).set_index("upstream")["superb_score"]
        assert scores["FBANK"] == pytest.approx(0.0, abs=0.01)  # its row is the reference point
        assert scores["WavLM Large"] > scores["HuBERT Base"] > scores["FBANK"]


def test_run_points_give_baseline_zero_and_the_best_1000(tmp_path):
    table = pd.DataFrame({
        "upstream": ["fbank", "a", "b"], "ASR_wer": [80.0, 40.0, 20.0], "SID_acc": [10.0, 50.0, 30.0],
        "SE_pesq": [1.5, 2.0, 2.5], "SE_stoi": [80.0, 85.0, 90.0], "SS_sisdri": [2.0, 6.0, 4.0],
    })
    path, out = tmp_path / "run.csv", tmp_path / "scores.csv"
    table.to_csv(path, index=False)
    cli(["superb-score", str(path), "--set", "minisuperb", "--run-points", "fbank", "--output", str(out)])
    scores = pd.read_csv(out).set_index("upstream")["superb_score"]
    assert scores["fbank"] == 0.0
    # b: ASR 1000, SID 500, SE 1000, SS 500 -> 750; a: ASR 666.7, SID 1000, SE 500, SS 1000
    assert scores["b"] == pytest.approx(750.0)
    assert scores["a"] == pytest.approx((2000 / 3 + 1000 + 500 + 1000) / 4)


def test_config_points_file_without_suffix(tmp_path):
    points_file = tmp_path / "points.csv"
    points_file.write_text("metric,fbank,sota\nASR_wer,80,20\nSID_acc,10,50\nSE_pesq,1.5,2.5\n"
                           "SE_stoi,80,90\nSS_sisdri,2,6\n")
    points = scoring.set_points("minisuperb", points_file)
    assert points["ASR_wer"] == (80.0, 20.0)
    assert scoring.score({"ASR_wer": 20, "SID_acc": 50, "SE_pesq": 2.5, "SE_stoi": 90, "SS_sisdri": 6}, points) == 1000.0


def test_unknown_metric_column_is_named_with_the_valid_ones(tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"upstream": ["x"], "ASR_wer": [10.0], "ASR_bleu": [3.0]}).to_csv(path, index=False)
    with pytest.raises(MinisuperbError, match=r"unknown metric column\(s\) 'ASR_bleu'.*Valid metric columns: ASR_wer, ASR_cer"):
        cli(["superb-score", str(path), "--set", "public", "--output", str(tmp_path / "o.csv")])


def test_minisuperb_set_needs_points(tmp_path):
    with pytest.raises(MinisuperbError, match="--points FILE"):
        scoring.set_points("minisuperb")


def test_missing_baseline_for_run_points_is_explained():
    table = pd.DataFrame({"upstream": ["a", "b"], "ASR_wer": [10.0, 20.0]})
    with pytest.raises(MinisuperbError, match="baseline model 'fbank'"):
        scoring.points_from_run(table, ["ASR_wer"], "fbank")


def test_a_metric_no_model_improves_is_left_out_of_run_points():
    table = pd.DataFrame({"upstream": ["fbank", "a"], "ASR_wer": [50.0, 40.0], "SID_acc": [60.0, 30.0]})
    assert scoring.points_from_run(table, ["ASR_wer", "SID_acc"], "fbank") == {"ASR_wer": (50.0, 40.0)}
    with pytest.raises(MinisuperbError, match="no model beats the baseline 'fbank' on any of SID_acc"):
        scoring.points_from_run(table, ["SID_acc"], "fbank")

"""The studies on the published SUPERB tables: task subsets and the predicted SUPERB score
(`minisuperb.report.published_studies`, `minisuperb published-studies`)."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from minisuperb.cli import run as cli
from minisuperb.report import published_studies, scoring
from minisuperb.report.published_studies import LinearMap

# The report tests' settings (tests/test_report.py), so one process computes the studies once.
SAMPLES, SEED, CONFIDENCE = 200, 0, 0.95


@pytest.fixture(scope="module")
def studies():
    return published_studies.run(scoring.REFERENCE_DIR, SAMPLES, SEED, CONFIDENCE)


def by_hand(set_name, tasks):
    """Each model's score over `tasks` and its full SUPERB score, from the CSV and README's
    formula, without the scoring module: 1000 * (v - fbank) / (sota - fbank), metrics of a task
    averaged, then tasks."""
    table = pd.read_csv(scoring.REFERENCE_DIR / scoring.REFERENCE_TABLES[set_name]).set_index("upstream")
    points = pd.read_csv(scoring.REFERENCE_DIR / scoring.REFERENCE_POINTS_FILE).set_index("metric")
    suffix = scoring.TASK_SETS[set_name][1]

    def score(metrics):
        per_task = {}
        for metric in metrics:
            fbank, sota = points.loc[metric + suffix, ["fbank", "sota"]]
            per_task.setdefault(metric.split("_")[0], []).append(1000 * (table[metric] - fbank) / (sota - fbank))
        return pd.concat([sum(v) / len(v) for v in per_task.values()], axis=1).mean(axis=1, skipna=False)

    mini = {"ASR": ["ASR_wer"], "SID": ["SID_acc"], "SE": ["SE_pesq", "SE_stoi"], "SS": ["SS_sisdri"]}
    both = pd.concat([score([m for t in tasks for m in mini[t]]), score(scoring.TASK_SETS[set_name][0])], axis=1).dropna()
    return both[0].to_numpy(), both[1].to_numpy()


def test_fifteen_subsets_of_the_four_tasks():
    assert published_studies.TASKS == ("ASR", "SID", "SE", "SS")
    names = [published_studies.subset_name(s) for s in published_studies.subsets()]
    assert len(names) == 15 and names[0] == "ASR" and names[-1] == "ASR+SID+SE+SS"


def test_all_four_tasks_on_the_paper_set_reproduce_the_hand_computed_number(studies):
    every = studies.subsets["paper"][-1]
    assert every["tasks"] == ["ASR", "SID", "SE", "SS"]
    x, y = by_hand("paper", every["tasks"])
    assert every["n"] == len(x) == 18  # DistilHuBERT and FaST-VGS+ have no SE/SS
    assert every["spearman"]["value"] == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-9)
    assert round(every["spearman"]["value"], 3) == 0.699
    # HuBERT Large is the public points' SOTA on ASR (3.62) and SE (2.64, 94.2): 1000 points each.
    table = published_studies.published_tables(scoring.REFERENCE_DIR)["public"]
    assert table.loc["HuBERT Large", ["ASR", "SE"]].tolist() == pytest.approx([1000, 1000])
    assert (table.loc["FBANK", list(published_studies.TASKS)] == 0).all()


@pytest.mark.parametrize("set_name", scoring.REFERENCE_SETS)
def test_subset_correlations_match_scipy(studies, set_name):
    for row in studies.subsets[set_name]:
        x, y = by_hand(set_name, row["tasks"])
        assert row["n"] == len(x)
        assert row["spearman"]["value"] == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-9), row["name"]
        assert row["kendall"]["value"] == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-9), row["name"]
        low, high = row["spearman"]["ci"]
        assert low <= row["spearman"]["value"] <= high and 0 < row["spearman"]["p_value"] < 0.05


def linear(x, y, confidence=0.95):
    x = np.asarray(x, dtype=float)
    return LinearMap(["x"], [f"m{i}" for i in range(len(x))], x[:, None], np.asarray(y, dtype=float), confidence)


def test_leave_one_out_error_by_hand():
    # Three points: each is predicted by the line through the other two.
    # Without (0, 0): slope 3 through (1, 1) -> -2 at 0; without (1, 1): 2 at 1; without (2, 4): 2 at 2.
    loo = linear([0, 1, 2], [0, 1, 4]).leave_one_out()
    assert loo["predictions"] == pytest.approx([-2, 2, 2])
    assert loo["mae"] == pytest.approx(5 / 3) and loo["rmse"] == pytest.approx(math.sqrt(3))
    assert math.isnan(loo["mean_width"])  # a line through two points leaves no residual to size an interval


def test_leave_one_out_error_matches_the_hat_matrix_identity():
    # y = 2x + 1 but for the last point, 3 above the line: without it the rest is exact.
    fit = linear([0, 1, 2, 3, 4], [1, 3, 5, 7, 12])
    loo = fit.leave_one_out()
    assert loo["predictions"][-1] == pytest.approx(9.0)
    design = fit.design
    hat = design @ np.linalg.inv(design.T @ design) @ design.T
    residuals = fit.y - hat @ fit.y
    expected = residuals / (1 - np.diag(hat))  # LOO residual = e_i / (1 - h_ii)
    assert fit.y - np.array(loo["predictions"]) == pytest.approx(expected)
    assert loo["mae"] == pytest.approx(np.abs(expected).mean())
    assert loo["rmse"] == pytest.approx(np.sqrt((expected ** 2).mean()))


def test_prediction_interval_holds_about_the_nominal_share_of_new_points():
    rng = np.random.default_rng(0)
    inside = []
    for _ in range(150):
        x = rng.uniform(0, 1000, 11)
        fit = linear(x, 1.3 * x - 100 + rng.normal(0, 120, 11))
        for x0 in rng.uniform(0, 1000, 20):
            _, low, high = fit.predict([x0])
            inside.append(low <= 1.3 * x0 - 100 + rng.normal(0, 120) <= high)
    assert np.mean(inside) == pytest.approx(0.95, abs=0.015)


def test_maps_on_the_published_tables(studies):
    public = studies.minisuperb["public"]
    assert public.models[0] == "WavLM Large" and len(public.y) == 11 and public.y[0] == pytest.approx(1286.18, abs=0.01)
    loo = public.leave_one_out()
    assert 0 < loo["mae"] <= loo["rmse"] < 300 and loo["coverage"] >= 0.8
    for set_name, maps in studies.published.items():
        assert len(maps[published_studies.TASK_POINTS].inputs) == 4
        assert maps[published_studies.TASK_POINTS].leave_one_out()["rmse"] < 200, set_name
    # A model at a MiniSUPERB score of 500: prediction inside its interval, in range.
    value, low, high = public.predict([500.0])
    assert low < value < high and public.in_range([500.0]) and not public.in_range([1200.0])


def test_predictions_for_models_without_a_superb_row(studies):
    scores = pd.DataFrame({"upstream": ["a", "b", "c"], "minisuperb_score": [500.0, math.nan, 100.0]})
    rows = published_studies.predictions(scores, ["a", "b"], studies.minisuperb)
    assert [row["model"] for row in rows] == ["a"]
    assert rows[0]["public"]["low"] < rows[0]["public"]["prediction"] < rows[0]["public"]["high"]
    sections = published_studies.sections(studies, {"task_subsets": None, "predicted_score": None},
                                          {"public": "public", "paper": "paper"}, rows, ["a", "b"])
    assert "No MiniSUPERB score, so no prediction: b." in sections[1].paragraphs


def test_command_writes_the_studies_without_a_run(tmp_path, capsys):
    cli(["published-studies", "--out-dir", str(tmp_path), "--settings", json.dumps({"bootstrap": SAMPLES})])
    data = json.loads((tmp_path / published_studies.JSON_FILE).read_text())
    assert set(data["task_subsets"]) == set(scoring.REFERENCE_SETS)
    assert all(len(rows) == 15 for rows in data["task_subsets"].values())
    assert data["predictor"]["minisuperb"]["public"]["n"] == 11 and data["evaluated"] == []
    for figure in published_studies.FIGURES.values():
        assert (tmp_path / figure).read_bytes()[:4] == b"\x89PNG"
    markdown = (tmp_path / "published_studies.md").read_text()
    assert "## Task subsets on the published SUPERB tables" in markdown and "## Predicted SUPERB score" in markdown
    assert "SUPERB paper set, Spearman with its full score: all four tasks 0.699" in capsys.readouterr().out

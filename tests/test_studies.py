"""The studies of report.studies on small synthetic score tables: fraction sweep, seeds, task
subsets and few-shot (minisuperb.report.studies), and their sections in a built report."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from minisuperb.report import studies
from minisuperb.report.analysis import SCORE

MODELS = ["a", "b", "c", "d", "e", "f"]
TASKS = ["ASR", "SID", "SE", "SS"]
SETTINGS = {"bootstrap": 200, "seed": 0, "confidence": 0.95}


def score_table(scores: dict[str, float], tasks: dict[str, dict[str, float]] | None = None) -> pd.DataFrame:
    """A run's score table as analysis.score_run writes it: upstream, score and task points."""
    tasks = tasks or {task: scores for task in TASKS}
    return pd.DataFrame({"upstream": list(scores), SCORE: list(scores.values()),
                         **{f"{task}_points": [points.get(m, np.nan) for m in scores] for task, points in tasks.items()}})


FULL = score_table(dict(zip(MODELS, [600.0, 500, 400, 300, 200, 100])))


def test_task_subsets_are_the_15_non_empty_subsets_smallest_first():
    subsets = studies.task_subsets(TASKS)
    assert len(subsets) == 15 == len(set(subsets))
    assert subsets[:4] == [("ASR",), ("SID",), ("SE",), ("SS",)] and subsets[-1] == tuple(TASKS)
    assert [len(s) for s in subsets] == sorted(len(s) for s in subsets)


def test_fraction_sweep_correlates_each_fraction_with_the_full_run_and_states_its_cost():
    swapped = dict(zip(MODELS, [100.0, 200, 300, 400, 500, 600]))  # the full run's order reversed
    runs = {"frac1.0": FULL.copy(), "frac0.01": score_table(swapped),
            "frac0.1": score_table(dict(zip(MODELS, [600.0, 500, 300, 400, 200, 100])))}  # c/d swap
    costs = {"frac0.01": {"macs": 1.0e9, "train_wall_s": 10.0}, "frac0.1": {"macs": 5.0e9, "train_wall_s": 20.0},
             "frac1.0": {"macs": 2.0e10, "train_wall_s": 40.0}}
    sweep = studies.fraction_sweep(runs, FULL, costs, {"macs": 4.0e10, "train_wall_s": 80.0}, SETTINGS)
    assert list(sweep["sampling"]) == ["frac0.01", "frac0.1", "frac1.0"] and list(sweep["fraction"]) == [0.01, 0.1, 1.0]
    assert sweep["spearman"].tolist() == pytest.approx([-1.0, 1 - 6 * 2 / (6 * 35), 1.0])
    assert sweep["kendall"].tolist() == pytest.approx([-1.0, 13 / 15, 1.0])
    assert sweep["macs_share"].tolist() == pytest.approx([2.5, 12.5, 50.0])
    assert sweep["wall_share"].tolist() == pytest.approx([12.5, 25.0, 50.0])
    assert sweep["models"].tolist() == [6, 6, 6] and sweep["spearman_ci"].isna().all()  # no interval below 8 models
    assert sweep["spearman_p"].iloc[2] == pytest.approx(2 / 720)  # exact: 2 of the 6! orderings are as extreme


def test_total_cost_sums_every_stage_and_job():
    costs = {("a", "asr"): {"macs": {"upstream": 1.0, "downstream_train": 2.0, "downstream_eval": 3.0}, "train_wall_s": 4.0},
             ("b", "sid"): {"macs": {"upstream": 10.0, "downstream_train": 0.0, "downstream_eval": 0.0}, "train_wall_s": 1.0}}
    assert studies.total_cost(costs) == {"macs": 16.0, "train_wall_s": 5.0}


def seed_rows(flip: set[tuple[int, int]]) -> pd.DataFrame:
    """Results rows of one run over 3 x 3 seeds: SID accuracy ranks a > b > c > d, except that
    the seed pairs in `flip` swap a and b."""
    rows = []
    for seed, train_seed in itertools.product((1, 2, 3), (7, 8, 9)):
        accuracy = {"a": 90.0, "b": 80.0, "c": 50.0, "d": 20.0}
        if (seed, train_seed) in flip:
            accuracy["a"], accuracy["b"] = 80.0, 90.0
        rows += [{"protocol": "p", "sampling": "paper", "seed": seed, "train_seed": train_seed, "upstream": model,
                  "reference": None, "SID_acc": value + seed} for model, value in accuracy.items()]
    return pd.DataFrame(rows)


def test_seed_study_measures_pairwise_agreement_top_changes_and_spread():
    points = {"SID_acc": (10.0, 100.0)}
    result = studies.seed_study(seed_rows({(1, 7)}), points, SETTINGS)
    agreement = result["agreement"]
    assert agreement["seed_pairs"] == 9 and agreement["models"] == 4 and len(result["pairs"]) == 36
    # 8 of the 36 pairs include the flipped ranking: tau = 1 - 2/6 there, 1 elsewhere.
    assert agreement["mean_kendall"] == pytest.approx((28 + 8 * (2 / 3)) / 36)
    assert agreement["top_change_share"] == pytest.approx(8 / 36)
    assert agreement["tops"] == {"a": 8, "b": 1}
    assert set(agreement["by_kind"]) == {"sampling seed", "training seed", "both"}
    low, high = agreement["mean_kendall_ci"]
    assert low <= agreement["mean_kendall"] <= high <= 1.0
    spread = result["spread"].set_index("upstream")
    assert spread.loc["c", "SID_acc_std"] == pytest.approx(np.std([51, 51, 51, 52, 52, 52, 53, 53, 53], ddof=1))
    assert spread.loc["a", f"{SCORE}_mean"] > spread.loc["b", f"{SCORE}_mean"]
    assert result["metrics"] == ["SID_acc", SCORE]


def test_seed_study_of_identical_rankings_agrees_fully():
    agreement = studies.seed_study(seed_rows(set()), {"SID_acc": (10.0, 100.0)}, SETTINGS)["agreement"]
    assert agreement["mean_kendall"] == 1.0 and agreement["top_change_share"] == 0.0
    assert agreement["mean_kendall_ci"] == [1.0, 1.0]


def test_task_subset_study_scores_each_subset_against_the_full_score():
    order = dict(zip(MODELS, [6.0, 5, 4, 3, 2, 1]))
    reverse = dict(zip(MODELS, [1.0, 2, 3, 4, 5, 6]))
    mini = score_table(order, {"ASR": order, "SID": order, "SE": reverse, "SS": {m: 10 * v for m, v in reverse.items()}})
    result = studies.task_subset_study(mini, FULL, SETTINGS).set_index("tasks")
    assert len(result) == 15
    assert result.loc["ASR", "spearman"] == pytest.approx(1.0) and result.loc["SE", "spearman"] == pytest.approx(-1.0)
    assert result.loc["ASR+SID", "spearman"] == pytest.approx(1.0)
    assert result.loc["ASR+SE", "note"].startswith("one side gives every model the same score")  # 6 + 1 = 7 for all
    assert result.loc["ASR+SID+SE+SS", "spearman"] == pytest.approx(-1.0)  # SS's large points dominate the mean
    assert result.loc["SID+SE+SS", "size"] == 3


def test_few_shot_study_ranks_each_task_per_amount_against_the_full_run():
    swapped = dict(zip(MODELS, [500.0, 600, 400, 300, 200, 100]))  # a/b swap
    runs = {"k1": score_table(swapped, {"SID": swapped}), "k11": score_table(dict(FULL.set_index("upstream")[SCORE]), {"SID": dict(FULL.set_index("upstream")[SCORE])}),
            "k2": score_table(swapped, {"SID": swapped}), "min2": score_table(swapped, {"ASR": swapped})}
    comparisons, ranks = studies.few_shot_study(runs, FULL, SETTINGS)
    assert list(zip(comparisons["task"], comparisons["sampling"])) == [("ASR", "min2"), ("SID", "k1"), ("SID", "k2"), ("SID", "k11")]
    assert comparisons.set_index("sampling").loc["k11", "spearman"] == pytest.approx(1.0)
    assert comparisons.set_index("sampling").loc["k1", "kendall"] == pytest.approx(13 / 15)
    assert set(comparisons["unit"]) == {"utterances per speaker", "minutes"}
    sid = ranks[ranks["task"] == "SID"].set_index("model")
    assert sid.loc["a", "k1"] == 2 and sid.loc["a", "k11"] == 1 and sid.loc["a", "full"] == 1


def test_a_report_with_studies_has_their_sections_and_figures(tmp_path):
    """The report of test_report's fixture with the seeds and task-subset studies configured
    (two sampling seeds of the mini run; a full run): their sections and figures, and none
    of the others."""
    from test_report import SETTINGS as REPORT_SETTINGS, build, collect, make_workdir

    root = make_workdir(tmp_path)
    collect(root)
    settings = REPORT_SETTINGS | {"studies": {"seeds": {"protocol": "demo", "sampling": "paper"}, "task_subsets": True}}
    out = build(root, tmp_path / "out", settings)
    markdown = (out / "report.md").read_text()
    assert "## Study: seeds" in markdown and "## Study: task subsets" in markdown
    assert "## Study: training fraction" not in markdown and "## Study: few-shot" not in markdown
    assert "mean pairwise Kendall" in markdown and "ASR+SID+SE+SS" in markdown
    for name in ("study_seeds", "study_task_subsets"):
        assert (out / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / "figures" / "study_fractions.png").exists()
    assert json.loads((out / "correlation.json").read_text())["runs"]["mini"]["sampling"] == "paper"

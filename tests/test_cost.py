"""The cost model: analytic head MACs (checked against thop), both protocols, the reduction."""

import json

import pytest
import torch

from minisuperb.cli import run as cli
from minisuperb.corpora.audio import TARGET_RATE
from minisuperb.errors import MinisuperbError
from minisuperb.report import cost


def test_lstm_count_matches_thop_up_to_elementwise_terms():
    thop = pytest.importorskip("thop")
    lstm = torch.nn.LSTM(40, 32, num_layers=3, bidirectional=True, batch_first=True)
    frames = 10
    measured, _ = thop.profile(lstm, inputs=(torch.zeros(1, frames, 40),), verbose=False)
    analytic = frames * cost.head_macs([{"blstm": 32}, {"blstm": 32}, {"blstm": 32}], 40)
    assert analytic == frames * 2 * 4 * 32 * ((40 + 32) + 2 * (64 + 32))
    # thop adds biases and the element-wise gate products: a few percent here.
    assert analytic <= measured <= 1.1 * analytic


def test_head_layers_chain_their_widths():
    # SUPERB ASR head on a 768-dim upstream: 768x1024, BLSTM(1024->1024), BLSTM(2048->1024), 2048x32
    head = [{"linear": 1024}, {"blstm": 1024}, {"blstm": 1024}, {"linear": 32}]
    expected = 768 * 1024 + 8 * 1024 * 2048 + 8 * 1024 * 3072 + 2048 * 32
    assert cost.head_macs(head, 768) == expected
    assert cost.head_macs([{"linear": 257, "copies": 2}], 10) == 2 * 10 * 257
    with pytest.raises(MinisuperbError, match="linear: N"):
        cost.head_macs([{"conv": 3}], 10)


def test_superb_cost_counts_every_step_and_eval_pass():
    protocol = {"steps": 10, "batch_size": 2, "train_hours": 1.0, "train_utterances": 360,
                "crop_seconds": 8, "eval": [{"split": "dev", "hours": 0.5, "passes": 3}],
                "head": [{"linear": 4}]}
    # 10 s utterances cropped to 8 s: 10 x 2 x 8 = 160 s of training; 3 x 1800 s of evaluation.
    result = cost.superb_task_cost(protocol, macs_per_second=1000.0, dim=5, frame_rate=50.0)
    assert result["upstream"] == 1000.0 * (160 + 5400)
    assert result["downstream_train"] == 3 * 20 * 50 * 160
    assert result["downstream_eval"] == 20 * 50 * 5400


def test_reduction_and_totals():
    mini = {"upstream": 10.0, "downstream_train": 5.0, "downstream_eval": 5.0}
    superb = {"upstream": 600.0, "downstream_train": 300.0, "downstream_eval": 100.0}
    resources = dict.fromkeys(cost.RESOURCE_COLUMNS, 1.0)
    full = {"upstream": 20.0, "downstream_train": 15.0, "downstream_eval": 5.0}
    rows = [cost.cost_row("m", "asr", {"mini": mini, "superb": superb, "full_run": full}, resources),
            cost.cost_row("m", "sid", {"mini": mini, "superb": superb, "full_run": full}, resources)]
    table = cost.cost_table(rows).set_index(["model", "task"])
    assert table.loc[("m", "asr"), "reduction_percent"] == pytest.approx(98.0)
    assert table.loc[("m", "asr"), "full_run_reduction_percent"] == pytest.approx(50.0)
    assert table.loc[("m", "all"), "mini_total_macs"] == 40.0
    assert table.loc[("all", "all"), "superb_total_macs"] == 2000.0
    assert table.loc[("all", "all"), "train_wall_s"] == 2.0
    assert list(table.columns[:4]) == ["mini_upstream_macs", "mini_downstream_train_macs",
                                       "mini_downstream_eval_macs", "mini_total_macs"]


def test_run_cost_is_extraction_once_plus_measured_downstream():
    result = cost.run_task_cost(100.0, 60.0, train_macs=[10.0, 30.0], eval_macs=[1.0, 3.0])
    assert result == {"upstream": 6000.0, "downstream_train": 20.0, "downstream_eval": 2.0}


def test_subset_seconds_from_stats_equal_the_manifest_samples(tmp_path):
    """The data stage's stats.json gives the seconds that summing the subset's manifest records
    gives (how the report counted them before it read stats.json)."""
    lengths = {"train": [16000, 32000, 8000, 12345], "dev": [16000, 7], "test": [48000, 99999]}
    task_dir = tmp_path / "asr"
    (task_dir / "manifest").mkdir(parents=True)
    expected = {}
    for seed in (1, 2):
        (task_dir / "subsets" / "paper" / f"seed{seed}").mkdir(parents=True)
        expected[seed] = 0.0
    for split, samples in lengths.items():
        records = [{"id": f"{split}{i}", "num_samples": n} for i, n in enumerate(samples)]
        (task_dir / "manifest" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        for seed in expected:
            chosen = records[seed - 1:seed + 1]  # two utterances, different per seed
            (task_dir / "subsets" / "paper" / f"seed{seed}" / f"{split}.txt").write_text(
                "".join(r["id"] + "\n" for r in chosen))
            expected[seed] += sum(r["num_samples"] for r in chosen) / TARGET_RATE
    cli(["extract-list", "--manifest-dir", str(task_dir / "manifest"), "--subset-dirs",
         str(task_dir / "subsets" / "paper" / "seed1"), str(task_dir / "subsets" / "paper" / "seed2"),
         "--out", str(task_dir / "extract.txt"), "--stats", str(task_dir / "stats.json")])
    stats = cost.read_stats(task_dir / "stats.json")
    for seed, seconds in expected.items():
        assert cost.subset_seconds(stats, "paper", seed, "asr") == seconds
    with pytest.raises(MinisuperbError, match=r"task asr has no subset paper/seed3 \(it has: paper/seed1, paper/seed2\)"):
        cost.subset_seconds(stats, "paper", 3, "asr")


def test_summary_without_a_cost_key_is_named(tmp_path):
    path = tmp_path / "asr.json"
    path.write_text(json.dumps({"dim": 3, "frame_rate": 50}))
    with pytest.raises(MinisuperbError, match="macs_per_second"):
        cost.read_summary(path)

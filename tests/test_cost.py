"""The cost model: analytic head MACs (checked against thop), the SUPERB side from the training
presets, the reduction, and which accounting gives the paper's 97%."""

import json

import pytest
import torch

from minisuperb.cli import run as cli
from minisuperb.corpora.audio import TARGET_RATE
from minisuperb.corpora.manifest import write_subset
from minisuperb.downstream.protocols import resolve_settings
from minisuperb.errors import MinisuperbError
from minisuperb.report import cost
from minisuperb.report.commands import report_settings


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


def test_heads_and_steps_come_from_the_training_presets():
    """One owner: the SUPERB side counts what `resolve_settings` gives the trainer for the preset."""
    settings = cost.superb_settings("superb", ["asr", "sid", "se", "ss"])
    assert settings == {task: resolve_settings("superb", task) for task in settings}
    asr, sid, se, ss = (settings[t] for t in ("asr", "sid", "se", "ss"))
    assert cost.head_layers("asr", asr) == [{"linear": asr["projector"]}, *[{"blstm": asr["hidden"]}] * asr["layers"],
                                            {"linear": cost.S3PRL_ASR_CLASSES}]
    assert cost.head_layers("sid", sid) == [{"linear": sid["projector"]}]
    assert cost.head_layers("ss", ss)[-1] == {"linear": ss["n_fft"] // 2 + 1, "copies": 2}
    # s3prl halves ASR buckets: 32 in the preset, 16 per step; SID: batch x gradient accumulation.
    assert cost.examples_per_step("asr", asr) == asr["batch_size"] / 2
    assert cost.examples_per_step("sid", sid) == sid["batch_size"] * sid["accumulate"]
    # The head runs at the STFT's frame rate when the STFT has a hop of its own (stft2: 10 ms).
    assert cost.head_frame_rate({"hop_length": 160}, 50.0) == 100.0
    assert cost.head_frame_rate({"hop_length": None}, 50.0) == cost.head_frame_rate({}, 50.0) == 50.0
    assert cost.head_frame_rate(se, 50.0) == (TARGET_RATE / se["hop_length"] if se["hop_length"] else 50.0)


def test_superb_cost_counts_every_step_and_eval_pass():
    settings = {"steps": 10, "batch_size": 2, "accumulate": 1, "eval_every": 5, "projector": 4}
    data = {"train_hours": 1.0, "train_utterances": 360, "crop_seconds": 8,
            "eval": [{"split": "dev", "hours": 0.5, "every_eval": True},
                     {"split": "test", "hours": 0.25, "every_eval": False}]}
    # 10 s utterances cropped to 8 s: 10 x 2 x 8 = 160 s of training; 2 x 1800 + 900 s of evaluation.
    result = cost.superb_task_cost("sid", settings, data, macs_per_second=1000.0, dim=5, frame_rate=50.0)
    assert result["upstream"] == 1000.0 * (160 + 4500)
    assert result["upstream_once"] == 1000.0 * 3600 * 1.75  # every utterance once
    assert result["downstream_train"] == 3 * 20 * 50 * 160
    assert result["downstream_eval"] == 20 * 50 * 4500


# The paper's subsets on the real corpora (config/minisuperb.yaml, README): hours per split.
PAPER_SUBSETS = {
    "asr": {"train_hours": 10.0, "train_utterances": 2763, "dev": 5.4, "test": 5.4},  # Libri-light 10 h
    "sid": {"train_hours": 13761 * 8.2 / 3600, "train_utterances": 13761, "dev": 15.7, "test": 18.8},
    "se": {"train_hours": 1000 * 2.92 / 3600, "train_utterances": 1000, "dev": 300 * 2.92 / 3600, "test": 0.6},
    "ss": {"train_hours": 1400 * 15.0 / 3600, "train_utterances": 1400, "dev": 3.7, "test": 11.0},
}
# HuBERT Base: MACs per second of audio, torch's FlopCounterMode on transformers' HubertModel(HubertConfig()).
BASE_MACS_PER_SECOND, BASE_DIM, BASE_FRAME_RATE = 6.9e9, 768, 50.0


def base_model_macs(protocol: dict, data: dict, upstream: str, mini_asr_step: int | None = None) -> float:
    """MACs of the four tasks for HuBERT Base, counted with the report's own functions."""
    total = 0.0
    for task, settings in protocol.items():
        counted = cost.superb_task_cost(task, settings, data[task], BASE_MACS_PER_SECOND, BASE_DIM, BASE_FRAME_RATE)
        heads = counted["downstream_train"] + counted["downstream_eval"]
        if mini_asr_step and task == "asr":  # the s3prl count halves ASR steps; this trainer's are whole
            heads += counted["downstream_train"] * (mini_asr_step / cost.examples_per_step(task, settings) - 1)
        if mini_asr_step and task == "sid":  # pooled features: one frame per utterance, ~0
            heads = 0.0
        total += counted[upstream] + heads
    return total


@pytest.mark.parametrize("recipe", ["preset", "stft2"])
@pytest.mark.parametrize("mini_asr_step", [16, 32])
def test_which_accounting_gives_the_papers_97_percent(recipe, mini_asr_step):
    """For a Base model the report's count (SUPERB's upstream once per training example seen)
    gives 99.1-99.4%; the paper's 97% needs SUPERB's upstream counted once per utterance of the
    full datasets, whichever SE/SS recipe SUPERB is counted with and whichever ASR step the mini
    run takes (cost.PAPER_ACCOUNTING states these numbers)."""
    data = report_settings("{}")["superb_data"]
    superb = cost.superb_settings("superb", ["asr", "sid", "se", "ss"])
    if recipe == "stft2":  # MiniSUPERB's own SE/SS heads at SUPERB's steps (s3prl *_stft2)
        superb |= {"se": resolve_settings("minisuperb", "se") | {"steps": 100000, "eval_every": 1250},
                   "ss": resolve_settings("minisuperb", "ss") | {"steps": 150000, "eval_every": 2000}}
        data = data | {"ss": data["ss"] | {"eval": [{"split": "dev", "hours": 11.0, "every_eval": True},
                                                    {"split": "test", "hours": 11.0, "every_eval": False}]}}
    mini_data = {task: {"train_hours": d["train_hours"], "train_utterances": d["train_utterances"], "crop_seconds": None,
                        "eval": [{"split": "dev", "hours": d["dev"], "every_eval": True},
                                 {"split": "test", "hours": d["test"], "every_eval": False}]}
                 for task, d in PAPER_SUBSETS.items()}
    mini = base_model_macs(cost.superb_settings("minisuperb", list(superb)), mini_data, "upstream_once", mini_asr_step)
    per_example = cost.reduction_percent(mini, base_model_macs(superb, data, "upstream"))
    once = cost.reduction_percent(mini, base_model_macs(superb, data, "upstream_once"))
    assert 99.0 < per_example < 99.5
    assert 96.5 < once < 98.5


def test_reduction_and_totals():
    mini = {"upstream": 10.0, "downstream_train": 5.0, "downstream_eval": 5.0}
    superb = {"upstream": 600.0, "upstream_once": 100.0, "downstream_train": 300.0, "downstream_eval": 100.0}
    resources = dict.fromkeys(cost.RESOURCE_COLUMNS, 1.0)
    full = {"upstream": 20.0, "downstream_train": 15.0, "downstream_eval": 5.0}
    rows = [cost.cost_row("m", "asr", {"mini": mini, "superb": superb, "full_run": full}, resources),
            cost.cost_row("m", "sid", {"mini": mini, "superb": superb, "full_run": full}, resources)]
    table = cost.cost_table(rows).set_index(["model", "task"])
    assert table.loc[("m", "asr"), "reduction_percent"] == pytest.approx(98.0)
    assert table.loc[("m", "asr"), "reduction_upstream_once_percent"] == pytest.approx(100 * (1 - 20 / 500))
    assert table.loc[("m", "asr"), "full_run_reduction_percent"] == pytest.approx(50.0)
    assert table.loc[("m", "all"), "mini_total_macs"] == 40.0
    assert table.loc[("all", "all"), "superb_total_macs"] == 2000.0
    assert table.loc[("all", "all"), "train_wall_s"] == table.loc[("all", "all"), "full_run_train_wall_s"] == 2.0
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
    expected = {seed: 0.0 for seed in (1, 2)}
    subsets = {seed: {} for seed in expected}
    for split, samples in lengths.items():
        records = [{"id": f"{split}{i}", "num_samples": n} for i, n in enumerate(samples)]
        (task_dir / "manifest" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        for seed in expected:
            chosen = records[seed - 1:seed + 1]  # two utterances, different per seed
            subsets[seed][split] = [r["id"] for r in chosen]
            expected[seed] += sum(r["num_samples"] for r in chosen) / TARGET_RATE
    for seed, subset in subsets.items():
        write_subset(subset, task_dir / "subsets" / "paper" / f"seed{seed}")
    cli(["subset-stats", "--manifest-dir", str(task_dir / "manifest"), "--subset-dirs",
         str(task_dir / "subsets" / "paper" / "seed1"), str(task_dir / "subsets" / "paper" / "seed2"),
         "--stats", str(task_dir / "stats.json")])
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

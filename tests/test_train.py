"""The trainer (`minisuperb train`): resume equivalence, metrics.json, bad input, protocols, rule.

The toy corpora here (real feature stores, manifests and subset lists in tmp_path) are also used
by tests/test_tasks_asr_sid.py.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from minisuperb import cli
from minisuperb.catalog import SPLITS
from minisuperb.config import validate_config
from minisuperb.corpora.manifest import SUBSET_RECORD, write_manifest, write_subset
from minisuperb.downstream.checkpoint import LAST_CHECKPOINT, load_resumable, run_fingerprint
from minisuperb.downstream.data import TaskItems, item_bytes, load_split
from minisuperb.downstream.loop import RunSpec, TrainingInterrupted, check_settings, run
from minisuperb.downstream.protocols import load_presets, resolve_settings
from minisuperb.downstream.tasks import TASKS
from minisuperb.errors import MinisuperbError
from minisuperb.store import FeatureStore, StoreWriter

REPO = Path(__file__).resolve().parents[1]


# --- toy corpora ----------------------------------------------------------------------------------

TOY_WORDS = ("CAB", "BAD", "ACE", "BED", "DEAD", "FACE")
TOY_LETTERS = sorted(set("".join(TOY_WORDS)))


def write_toy_task(root: Path, task: str, utterances: dict[str, list[tuple[dict, np.ndarray]]],
                   pooled: bool, layers: int, dim: int, model_hash: str = "toyhash") -> dict:
    """Write a store, manifests and subset lists for `utterances[split] = [(record, features)]`;
    returns the paths `loop.run` / `minisuperb train` need."""
    store = root / "features" / "toy" / f"{task}.zarr"
    manifest_dir = root / "data" / task / "manifest"
    subset_dir = root / "data" / task / "subsets" / "full" / "seed0"
    with StoreWriter(store, "toy", model_hash, layers, dim, frame_rate=100.0, pooled=pooled) as writer:
        for split, items in utterances.items():
            for record, features in items:
                writer.add(split, record["id"], features)
        attrs = writer.close()
    summary = root / "features" / "toy" / f"{task}.json"
    summary.write_text(json.dumps(attrs))
    for split, items in utterances.items():
        write_manifest([record for record, _ in items], manifest_dir / f"{split}.jsonl")
    write_subset({split: [record["id"] for record, _ in items] for split, items in utterances.items()}, subset_dir)
    return {"store": store, "summary": summary, "manifest_dir": manifest_dir, "subset_dir": subset_dir}


def toy_asr(root: Path, counts=(64, 16, 16), layers: int = 2, dim: int = 16, seed: int = 0) -> dict:
    """A toy symbol mapping: each character is a fixed random vector held for 3 frames (word
    separators too) in layer 0; the other layers are noise."""
    rng = np.random.default_rng(seed)
    symbols = {char: rng.normal(size=dim) for char in [*TOY_LETTERS, "|"]}
    utterances = {}
    for split, count in zip(SPLITS, counts):
        items = []
        for index in range(count):
            words = [TOY_WORDS[i] for i in rng.integers(0, len(TOY_WORDS), size=rng.integers(1, 3))]
            frames = np.repeat(np.stack([symbols[c] for c in "|".join(words) + "|"]), 3, axis=0)
            features = rng.normal(size=(len(frames), layers, dim))
            features[:, 0] = frames + 0.1 * rng.normal(size=frames.shape)
            record = {"id": f"{split}-{index:03d}", "num_samples": 160 * len(frames), "sample_rate": 16000,
                      "speaker": "s0", "path": f"/toy/{split}/{index}.flac", "transcript": " ".join(words)}
            items.append((record, features.astype(np.float32)))
        utterances[split] = items
    return write_toy_task(root, "asr", utterances, pooled=False, layers=layers, dim=dim)


def toy_sid(root: Path, labels=(0, 3, 7, 12, 20), counts=(6, 2, 2), layers: int = 2, dim: int = 16,
            seed: int = 0) -> dict:
    """Separable speakers: each speaker's frames scatter around its own mean in layer 0 (the
    other layers are noise); the store keeps the time average, as for real SID stores."""
    rng = np.random.default_rng(seed)
    means = {label: 2.0 * rng.normal(size=dim) for label in labels}
    utterances = {split: [] for split in SPLITS}
    for split, count in zip(SPLITS, counts):
        for label in labels:
            for index in range(count):
                features = rng.normal(size=(20, layers, dim))
                features[:, 0] += means[label]
                utt = f"id{10001 + label}/vid/{split}{index:03d}"
                record = {"id": utt, "num_samples": 16000, "sample_rate": 16000, "speaker": f"id{10001 + label}",
                          "label": label, "path": f"/toy/{utt}.wav"}
                utterances[split].append((record, features.astype(np.float32)))
    return write_toy_task(root, "sid", utterances, pooled=True, layers=layers, dim=dim)


def toy_settings(task: str, **changes) -> dict:
    """The MiniSUPERB settings of `task` scaled down to toy size."""
    small = {
        "asr": {"projector": 32, "hidden": 32, "layers": 1, "dropout": 0.0, "lr": 5e-3, "batch_size": 8,
                "steps": 40, "eval_every": 20, "eval_batch_size": 16, "checkpoint_every": 10,
                "specaug": {"time_masks": 0, "time_width": 1, "freq_masks": 0, "freq_width": 1}},
        "sid": {"projector": 16, "lr": 1e-2, "batch_size": 8, "accumulate": 2, "steps": 30, "eval_every": 10,
                "checkpoint_every": 10},
    }[task]
    return resolve_settings("minisuperb", task, {"minisuperb": {task: {**small, **changes}}})


def load_records(paths: dict) -> dict:
    return {split: load_split(paths["manifest_dir"], paths["subset_dir"], split) for split in SPLITS}


def run_toy(paths: dict, task: str, out_dir: Path, settings: dict, store=None, stop_after_steps=None,
            workers: int = 0, train_seed: int = 0, item_memory_bytes: int = 0) -> dict:
    spec = RunSpec(task=task, model="toy", protocol="minisuperb", sampling="full", seed=0, train_seed=train_seed,
                   settings=settings, out_dir=out_dir, num_workers=workers, item_memory_bytes=item_memory_bytes,
                   stop_after_steps=stop_after_steps)
    return run(spec, store or FeatureStore.open(paths["store"]), load_records(paths))


def deterministic_part(result: dict) -> dict:
    """metrics.json without the wall time."""
    return {key: value for key, value in result.items() if key != "wall_time_s"}


# --- resume ----------------------------------------------------------------------------------------


def test_resumed_run_ends_exactly_like_an_uninterrupted_one(tmp_path):
    paths = toy_asr(tmp_path, counts=(24, 8, 8))
    # Dropout and SpecAugment on, so that the RNG states matter.
    settings = toy_settings("asr", steps=24, eval_every=8, checkpoint_every=5, dropout=0.2,
                            specaug={"time_masks": 2, "time_width": 4, "freq_masks": 2, "freq_width": 4})
    uninterrupted = run_toy(paths, "asr", tmp_path / "whole", settings)

    with pytest.raises(TrainingInterrupted, match="after step 13"):
        run_toy(paths, "asr", tmp_path / "killed", settings, stop_after_steps=13)
    assert not (tmp_path / "killed" / "metrics.json").exists()
    last = torch.load(tmp_path / "killed" / LAST_CHECKPOINT, weights_only=False)
    assert last["progress"]["step"] == 10  # steps 11-13 were lost, as in a real preemption
    resumed = run_toy(paths, "asr", tmp_path / "killed", settings)

    assert deterministic_part(resumed) == deterministic_part(uninterrupted)
    assert resumed["steps"] == 24 and len(resumed["dev_history"]) == 3


def test_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    paths = toy_sid(tmp_path)
    settings = toy_settings("sid", steps=10)
    run_toy(paths, "sid", tmp_path / "out", settings)
    changed = toy_settings("sid", steps=10, lr=2e-2)
    records = load_records(paths)
    store = FeatureStore.open(paths["store"])
    spec = RunSpec(task="sid", model="toy", protocol="minisuperb", sampling="full", seed=0, train_seed=0,
                   settings=changed, out_dir=tmp_path / "out")
    fingerprint = run_fingerprint(spec, store.attrs, records)
    assert load_resumable(tmp_path / "out" / LAST_CHECKPOINT, fingerprint) is None
    rerun = run_toy(paths, "sid", tmp_path / "out", changed)
    fresh = run_toy(paths, "sid", tmp_path / "fresh", changed)
    assert rerun["metrics"] == fresh["metrics"] and rerun["layer_weights"] == fresh["layer_weights"]


def test_a_head_is_never_resumed_on_a_re_extracted_store(tmp_path, caplog):
    """Features extracted again (an s3prl upgrade, replaced audio, a repaired store) get a new
    store identity: the head trained on the old ones is not reused, even half-way."""
    paths = toy_sid(tmp_path)
    settings = toy_settings("sid", steps=10)
    with pytest.raises(TrainingInterrupted):
        run_toy(paths, "sid", tmp_path / "out", settings, stop_after_steps=9)
    old_id = FeatureStore.open(paths["store"]).attrs["store_id"]
    os.remove(paths["store"])  # the link to its version, as Snakemake removes an output to rerun
    toy_sid(tmp_path)  # the same features, extracted again
    assert FeatureStore.open(paths["store"]).attrs["store_id"] != old_id
    with caplog.at_level("INFO"):
        rerun = run_toy(paths, "sid", tmp_path / "out", settings)
    assert "resuming" not in caplog.text
    fresh = run_toy(paths, "sid", tmp_path / "fresh", settings)
    assert rerun["metrics"] == fresh["metrics"]


def test_a_finished_run_asked_to_run_again_trains_again(tmp_path, caplog):
    """Snakemake reruns a finished job only when forced (-R) or an input changed: the trainer
    must then train, not re-score the finished head."""
    paths = toy_sid(tmp_path)
    settings = toy_settings("sid", steps=10)
    first = run_toy(paths, "sid", tmp_path / "out", settings)
    with caplog.at_level("INFO"):
        again = run_toy(paths, "sid", tmp_path / "out", settings)
    assert "holds a finished run; training toy/sid again from step 0" in caplog.text
    assert deterministic_part(again) == deterministic_part(first)


# --- data loading --------------------------------------------------------------------------------


def test_loader_workers_finish_with_the_same_metrics(tmp_path):
    """Workers are spawned (fork-mode workers can deadlock in zarr) and change nothing."""
    paths = toy_sid(tmp_path)
    settings = toy_settings("sid", steps=4, eval_every=4)
    in_process = run_toy(paths, "sid", tmp_path / "in_process", settings)
    with_workers = run_toy(paths, "sid", tmp_path / "workers", settings, workers=2)
    assert deterministic_part(with_workers) == deterministic_part(in_process)


@pytest.mark.parametrize("task, workers", [("asr", 0), ("sid", 0), ("sid", 2)])
def test_items_kept_in_memory_finish_with_the_same_metrics(tmp_path, task, workers):
    """Kept items are the items made again: nothing in training or evaluation changes them."""
    paths = {"asr": toy_asr, "sid": toy_sid}[task](tmp_path)
    settings = toy_settings(task, steps=8, eval_every=4, dropout=0.2) if task == "asr" else toy_settings(task, steps=8)
    made_each_time = run_toy(paths, task, tmp_path / "made", settings, workers=workers)
    kept = run_toy(paths, task, tmp_path / "kept", settings, workers=workers, item_memory_bytes=10**9)
    assert deterministic_part(kept) == deterministic_part(made_each_time)


def test_items_are_kept_up_to_the_memory_budget_and_not_pickled(tmp_path):
    paths = toy_sid(tmp_path)
    records = load_records(paths)["train"]
    store = FeatureStore.open(paths["store"])
    task = TASKS["sid"](toy_settings("sid"), dict(store.attrs))
    task.prepare(records)
    one = item_bytes(TaskItems(task, store, "train", records)[0])
    items = TaskItems(task, store, "train", records, memory_bytes=3 * one)
    made = [items[index] for index in range(len(records))]
    assert len(items._kept) == 3 and items._kept_bytes == 3 * one
    assert items[0] is made[0] and items[len(records) - 1] is not made[-1]  # beyond the budget: made again
    assert pickle.loads(pickle.dumps(items))._kept == {}


# --- metrics.json ----------------------------------------------------------------------------------


def test_metrics_json_records_metrics_cost_and_config(tmp_path):
    paths = toy_sid(tmp_path, layers=3)
    settings = toy_settings("sid")
    result = run_toy(paths, "sid", tmp_path / "out", settings)
    on_disk = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert on_disk == json.loads(json.dumps(result))
    assert set(result["metrics"]) == {"dev", "test"} and set(result["metrics"]["test"]) == {"acc"}
    assert result["primary"] == "acc" and result["higher_is_better"] is True
    assert result["steps"] == 30 and result["best_step"] in (10, 20, 30)
    best_entry = [h for h in result["dev_history"] if h["step"] == result["best_step"]][0]
    assert best_entry["acc"] == result["metrics"]["dev"]["acc"]
    assert result["device"] == "cpu" and result["wall_time_s"] > 0
    assert len(result["layer_weights"]) == 3 and sum(result["layer_weights"]) == pytest.approx(1.0)
    assert result["utterances"] == {"train": 30, "dev": 10, "test": 10}
    assert result["config"]["settings"] == settings and result["config"]["model_hash"] == "toyhash"
    macs = result["macs"]
    # 30 steps x 2 accumulated batches = 60 batches = 15 epochs of 4 batches (8+8+8+6) over the
    # 30 training utterances, one pooled frame each.
    assert macs["train_frames"] == 15 * 30
    # Head per frame: Linear(16->16) + Linear(16->5) with biases (thop counts weights only).
    assert macs["head_per_frame"] == pytest.approx(16 * 16 + 16 * 5)
    assert macs["train"] == int(3 * (macs["head_per_frame"] + macs["featurizer_per_frame"]) * macs["train_frames"])
    assert macs["eval_frames"] == 3 * 10 + 10  # three dev evaluations and the test
    assert (result["seed"], result["train_seed"]) == (0, 0) and result["failures"] == {"test": {}}


def test_the_training_seed_not_the_sampling_seed_initialises_the_head(tmp_path):
    paths = toy_sid(tmp_path)
    settings = toy_settings("sid", steps=6, eval_every=3)

    def trained(name: str, seed: int, train_seed: int) -> dict:
        spec = RunSpec(task="sid", model="toy", protocol="minisuperb", sampling="full", seed=seed,
                       train_seed=train_seed, settings=settings, out_dir=tmp_path / name)
        result = run(spec, FeatureStore.open(paths["store"]), load_records(paths))
        assert (result["seed"], result["train_seed"]) == (seed, train_seed)
        return {key: result[key] for key in ("metrics", "layer_weights", "dev_history")}

    reference = trained("a", seed=42, train_seed=1)
    assert trained("b", seed=43, train_seed=1) == reference  # the subset's seed is only recorded
    assert trained("c", seed=42, train_seed=2)["dev_history"] != reference["dev_history"]


# --- bad input -----------------------------------------------------------------------------------


class NonFiniteStore:
    """A store whose features have overflowed (what the trainer must catch)."""

    def __init__(self, store):
        self.attrs, self.path, self._store = store.attrs, store.path, store

    def get(self, split, utt_id, layers=None):
        return self._store.get(split, utt_id, layers) * np.float32(np.inf)


def test_nan_loss_stops_with_step_task_and_learning_rate(tmp_path):
    paths = toy_sid(tmp_path)
    store = NonFiniteStore(FeatureStore.open(paths["store"]))
    with pytest.raises(MinisuperbError, match=r"at step 1 of task sid .*lr 0\.01.*Lower the learning rate"):
        run_toy(paths, "sid", tmp_path / "out", toy_settings("sid", layer_norm=False), store=store)


def test_empty_split_names_the_subset_file(tmp_path):
    paths = toy_sid(tmp_path)
    subsets = {split: (paths["subset_dir"] / f"{split}.txt").read_text().split() for split in SPLITS}
    write_subset({**subsets, "dev": []}, paths["subset_dir"])
    with pytest.raises(MinisuperbError, match=r"subset list .*dev\.txt is empty"):
        load_records(paths)


def cli_args(paths: dict, out_dir: Path, task: str, settings: dict, *extra: str) -> list[str]:
    return ["train", "--task", task, "--model", "toy", "--store", str(paths["store"]),
            "--store-summary", str(paths["summary"]), "--manifest-dir", str(paths["manifest_dir"]),
            "--subset-dir", str(paths["subset_dir"]), "--protocol", "minisuperb", "--sampling", "full",
            "--settings", json.dumps(settings), "--seed", "0", "--train-seed", "0", "--out-dir", str(out_dir), *extra]


def test_cli_trains_and_writes_metrics(tmp_path):
    paths = toy_sid(tmp_path)
    assert cli.main(cli_args(paths, tmp_path / "out", "sid", toy_settings("sid", steps=10))) == 0
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["steps"] == 10


@pytest.mark.parametrize("case, message", [
    ("bad_json", "--settings is not valid JSON"),
    ("missing_setting", "'eval_every' is a required property"),
    ("bad_optimizer", "'SGD' is not one of ['Adam', 'AdamW']"),
    ("other_model_store", "toy"),
    ("unreadable_summary", "cannot read the store summary"),
])
def test_cli_bad_input_exits_2_with_a_message(tmp_path, capsys, case, message):
    paths = toy_sid(tmp_path)
    settings = toy_settings("sid", steps=2)
    args = cli_args(paths, tmp_path / "out", "sid", settings)
    if case == "bad_json":
        args[args.index("--settings") + 1] = "{steps: 2"
    elif case == "missing_setting":
        args[args.index("--settings") + 1] = json.dumps({k: v for k, v in settings.items() if k != "eval_every"})
    elif case == "bad_optimizer":
        args[args.index("--settings") + 1] = json.dumps(settings | {"optimizer": "SGD"})
    elif case == "other_model_store":
        paths["summary"].write_text(json.dumps({"model_hash": "anotherhash"}))
    elif case == "unreadable_summary":
        paths["summary"].write_text("{")
    assert cli.main(args) == 2
    assert message in capsys.readouterr().err


# --- protocols and config -------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", sorted(load_presets()))
def test_every_preset_resolves_for_every_task(protocol):
    for task in ("asr", "sid", "se", "ss"):
        check_settings(resolve_settings(protocol, task), task)


def test_presets_follow_the_papers():
    mini, superb = resolve_settings("minisuperb", "asr"), resolve_settings("superb", "asr")
    assert (mini["steps"], mini["layers"], mini["hidden"], mini["layer_norm"]) == (20000, 3, 256, True)
    assert (superb["steps"], superb["layers"], superb["hidden"], superb["layer_norm"]) == (200000, 2, 1024, False)
    # the reference evaluates dev once, at its last step (asr/config.yaml eval_step 20000); s3prl every 2000
    assert (mini["eval_every"], superb["eval_every"]) == (20000, 2000)
    assert mini["specaug"]["time_warp_window"] == superb["specaug"]["time_warp_window"] == 5
    sid = resolve_settings("minisuperb", "sid")
    assert (sid["lr"], sid["batch_size"], sid["accumulate"]) == (1e-3, 8, 4)
    assert resolve_settings("superb", "sid")["lr"] == 1e-4


def test_overrides_and_new_protocols():
    overrides = {"minisuperb": {"asr": {"lr": 5e-5, "specaug": {"time_masks": 0}}},
                 "mine": {"extends": "minisuperb", "sid": {"steps": 7}}}
    asr = resolve_settings("minisuperb", "asr", overrides)
    assert asr["lr"] == 5e-5 and asr["specaug"] == {"time_masks": 0, "time_width": 40, "freq_masks": 4, "freq_width": 50,
                                                    "time_warp_window": 5}
    assert resolve_settings("mine", "sid", overrides)["steps"] == 7
    assert resolve_settings("mine", "asr", overrides)["lr"] == 5e-5  # inherits the overridden parent


@pytest.mark.parametrize("overrides, message", [
    ({"minisuperb": {"asr": {"learning_rate": 1}}}, "unknown setting 'learning_rate' in config protocols.minisuperb.asr"),
    ({"mine": {"asr": {"lr": 1}}}, "add 'extends: <preset>'"),
    ({"a": {"extends": "b"}, "b": {"extends": "a"}}, "loop"),
])
def test_bad_overrides_are_refused(overrides, message):
    protocol = next(iter(overrides))
    with pytest.raises(MinisuperbError, match=message):
        resolve_settings(protocol, "asr", overrides)


def test_unknown_protocol_lists_the_known_ones():
    with pytest.raises(MinisuperbError, match="unknown protocol 'minisupreb'.*minisuperb"):
        resolve_settings("minisupreb", "asr")


@pytest.fixture
def downstream_schema(tmp_path):
    """The shared and downstream schema files only, so other stages' required keys stay out."""
    for name in ("general.schema.yaml", "downstream.schema.yaml"):
        shutil.copy(REPO / "config" / "schema" / name, tmp_path / name)
    return tmp_path


def test_schema_defaults_and_errors(downstream_schema):
    config = validate_config({}, downstream_schema)
    assert config["runs"] == [{"protocol": "minisuperb", "sampling": "paper"}]
    assert config["downstream"] == {"train_seeds": [1337], "threads": 1, "device": "auto", "workers": 0,
                                    "item_memory_gb": 2}
    with pytest.raises(MinisuperbError, match="runs.0"):
        validate_config({"runs": [{"protocol": "demo"}]}, downstream_schema)
    with pytest.raises(MinisuperbError, match="protocols.demo.asr.lr"):
        validate_config({"protocols": {"demo": {"asr": {"lr": -1}}}}, downstream_schema)


# --- the rule ------------------------------------------------------------------------------------


def test_rule_trains_one_job_per_run_seeds_model_task(tmp_path):
    """A workflow of just rules/common.smk + rules/downstream.smk on toy inputs, run for real."""
    results = tmp_path / "results"
    paths = toy_sid(results)
    subsets = results / "data" / "sid" / "subsets" / "full" / "seed3"
    paths["subset_dir"].rename(subsets)
    shutil.copy(subsets / SUBSET_RECORD, subsets / "checked.json")  # what check-subset writes
    view = results / "features" / "toy" / "sid" / "full" / "seed3.zarr"  # the run's feature view
    view.parent.mkdir(parents=True)
    view.symlink_to(os.path.realpath(paths["store"]))
    shutil.copy(paths["summary"], view.with_suffix(".json"))
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(
        f'RESULTS = "{results}"\n'
        f'include: "{REPO}/rules/common.smk"\ninclude: "{REPO}/rules/downstream.smk"\n'
        "rule all:\n    default_target: True\n    input: downstream_targets()\n"
    )
    small = toy_settings("sid", steps=4, eval_every=2)
    config = {"results": str(results), "tasks": ["sid"], "sampling": {"seeds": [3]},
              "models": {"toy": {}}, "runs": [{"protocol": "tiny", "sampling": "full"}],
              "protocols": {"tiny": {"extends": "minisuperb", "sid": {k: small[k] for k in ("steps", "eval_every", "projector")}}},
              "downstream": {"train_seeds": [5], "threads": 1, "device": "cpu", "workers": 0, "item_memory_gb": 1}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    snakemake = Path(sys.executable).parent / "snakemake"
    command = [str(snakemake), "-s", str(snakefile), "--configfile", str(tmp_path / "config.json"),
               "--cores", "1", "--directory", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, env={"PATH": f"{snakemake.parent}:/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((results / "downstream/tiny/full/seed3/train5/toy/sid/metrics.json").read_text())
    assert metrics["steps"] == 4 and metrics["config"]["settings"]["steps"] == 4
    assert (metrics["seed"], metrics["train_seed"]) == (3, 5)
    assert (results / "logs/train/tiny/full/seed3/train5/toy/sid.log").is_file()


@pytest.mark.parametrize("option, value", [("--workers", "-1"), ("--item-memory-gb", "-0.5")])
def test_negative_resources_are_refused_by_name(tmp_path, capsys, option, value):
    args = ["train", "--task", "sid", "--model", "m", "--store", str(tmp_path / "s.zarr"),
            "--manifest-dir", str(tmp_path), "--subset-dir", str(tmp_path), "--protocol", "p",
            "--sampling", "full", "--settings", "{}", "--seed", "0", "--train-seed", "0",
            "--out-dir", str(tmp_path / "out"), option, value]
    assert cli.main(args) == 2
    assert f"{option} must be 0" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

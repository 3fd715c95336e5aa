"""What the offline feature store buys in training: seconds per training step of each task head
with stored features against the same head with the upstream run on the fly.

Both sides train the same head with the same code (`minisuperb.downstream.loop.Trainer`, the
`minisuperb` protocol's settings from config/protocols.yaml, its batch sizes and gradient
accumulation), on the same synthetic utterances, in one process, steps alternating between the
two sides:
- offline: a synthetic Base-shaped feature store (13 layers x 768 dims at 50 Hz, float16 + zstd,
  as `minisuperb extract` writes it; SID pooled to one frame per utterance);
- on the fly: the store is replaced by `OnTheFlyStore`, whose `get` runs a randomly initialised
  wav2vec 2.0 Base (transformers `Wav2Vec2Model(Wav2Vec2Config())`, no download) on the
  utterance's audio under `torch.no_grad()`, as s3prl does with a frozen upstream, one utterance
  at a time (on CPU the fastest way to run a Base model, BENCHMARKS.md "Extraction"); the audio
  is held in memory, so decoding is not counted against it.
Utterance lengths follow the real corpora (mean seconds: LibriSpeech 12, VoxCeleb1 8, VoiceBank
3, Libri2Mix 5; uniform within +-20%), scaled by `--length-scale` on both sides alike.

The prediction comes from MACs: upstream MACs per second of audio (`minisuperb.upstreams.macs`,
at these utterance lengths) x the step's audio seconds, against 3 x (head + featurizer) forward
MACs per frame (`minisuperb.downstream.macs`) x the step's frames:
    predicted = (upstream + 3 x head) / (3 x head),   measured = on-the-fly s / offline s.
Reported per task: wall and CPU seconds per step (mean of `--steps` after `--warmup`), the
part of each step spent getting the batch (store read or upstream, items, collate), padding, and
measured / predicted. `--profile` adds a cProfile breakdown (CPU time) of one offline step,
`--torch-profile` its top ops (torch.profiler), `--lstm-threads-check` one ASR LSTM layer at 1
and 2 threads.

`--variants` runs bench-local variants of the pipeline, candidate fixes measured against the code
as it is (`as_is`): `specaug_inplace` (SpecAugment as it was before the fix, one in-place zeroing
per span: the "before" of that fix), `ram_pooled` (SID's
pooled store served from RAM), `bucketed` (length-bucketed batches). `--offline-ab` times only
the offline step of each variant, steps alternating between variants on the same batches.

    .venv/bin/python bench/bench_offline.py --threads 1 --steps 2 --warmup 1 --profile --json offline.json
    .venv/bin/python bench/bench_offline.py --offline-ab --tasks asr --variants as_is specaug_inplace bucketed \
        --steps 4 --warmup 1 --distinct-batches 4
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import inspect
import json
import platform
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_train  # noqa: E402  (the bench helpers: synthetic stores and manifests)
from bench_extract import SAMPLE_RATE, build_model, speech_like  # noqa: E402

from minisuperb.corpora import audio  # noqa: E402
from minisuperb.downstream.data import make_loader, training_batches  # noqa: E402
from minisuperb.downstream.loop import RunSpec, Trainer  # noqa: E402
from minisuperb.downstream.macs import TRAIN_MACS_PER_FORWARD, head_macs_per_frame  # noqa: E402
from minisuperb.downstream.protocols import resolve_settings  # noqa: E402
from minisuperb.runtime import set_threads  # noqa: E402
from minisuperb.upstreams import load_upstream  # noqa: E402
from minisuperb.upstreams.runner import use_onednn_linears  # noqa: E402
from minisuperb.upstreams.macs import count_macs  # noqa: E402

TASKS = ("asr", "sid", "se", "ss")
BASE_SHAPE = (13, 768, 50.0)  # wav2vec 2.0 Base: 12 transformer layers + the CNN output, 768 dims, 50 Hz
LARGE_SHAPE = (25, 1024, 50.0)
# Mean utterance seconds of the real corpora: LibriSpeech, VoxCeleb1, VoiceBank-DEMAND, Libri2Mix.
CORPUS_SECONDS = {"asr": 12.0, "sid": 8.0, "se": 3.0, "ss": 5.0}
SPREAD = 0.2  # lengths uniform in mean x [1 - SPREAD, 1 + SPREAD]


# --- building blocks (gpu_check.py uses them too) -----------------------------------------------


def run_spec(task: str, settings: dict, out_dir: Path, device: str = "cpu", num_workers: int = 0) -> RunSpec:
    """A RunSpec for a bench run (seed 0; `train_seed` 0 where this version of RunSpec has one)."""
    fields = {field.name for field in dataclasses.fields(RunSpec)}
    extra = {"train_seed": 0} if "train_seed" in fields else {}
    return RunSpec(task=task, model="base", protocol="bench", sampling="bench", seed=0, settings=settings,
                   out_dir=out_dir, device=device, num_workers=num_workers, **extra)


@contextlib.contextmanager
def patched(mapping: dict, changes: dict):
    """Set keys of a module-level dict for the duration (bench_train's sizes), then restore them."""
    saved = {key: mapping[key] for key in changes if key in mapping}
    mapping.update(changes)
    try:
        yield
    finally:
        for key in changes:
            if key in saved:
                mapping[key] = saved[key]
            else:
                del mapping[key]


def utterances_per_step(settings: dict) -> int:
    return int(settings["batch_size"]) * int(settings["accumulate"])


def synthetic_store(root: Path, task: str, train: int, mean_seconds: float, shape=BASE_SHAPE, seed: int = 0):
    """`bench_train.synthetic_task` at the given shape and size: `train` utterances of
    `mean_seconds` +-20% (one each in dev and test). Returns (store, records)."""
    seconds = (mean_seconds * (1 - SPREAD), mean_seconds * (1 + SPREAD))
    with patched(bench_train.UPSTREAMS, {"bench": shape}), patched(bench_train.DEMO_COUNTS, {task: (train, 1, 1)}):
        return bench_train.synthetic_task(root, task, "bench", seconds, seed)


def waveform(record: dict, seed: int) -> np.ndarray:
    """The utterance's audio: the file when the record has one on disk (SE, SS), else speech-like
    audio of the record's length."""
    if Path(record["path"]).is_file():
        return audio.load(record["path"])
    wav = speech_like(record["num_samples"] / SAMPLE_RATE + 0.01, np.random.default_rng(seed))
    return wav[: record["num_samples"]]


def base_upstream(root: Path, kernels: str = "stock", device: str = "cpu", layers: int = 12):
    """A randomly initialised wav2vec 2.0 Base shape behind our Upstream interface (the
    transformers loader), in eval mode. `kernels`: "stock" (torch's, as s3prl) or "onednn"
    (our extraction's float32 linear layers on CPU)."""
    path = build_model(root / "model", "base", layers, seed=0)
    upstream = load_upstream({"loader": "transformers", "path": str(path)}).eval().to(device)
    if kernels == "onednn":
        use_onednn_linears(upstream)
    return upstream


class OnTheFlyStore:
    """Stands in for a FeatureStore: `get` runs the upstream on the utterance's audio, batch 1,
    under `torch.no_grad()`, and returns what the store would: float32 [frames, layers, dim], the
    time-average for a pooled (SID) store."""

    def __init__(self, store, upstream, records: dict[str, list[dict]], device: str = "cpu"):
        self.attrs = dict(store.attrs)
        self.path = "on-the-fly"
        self.upstream, self.device = upstream, torch.device(device)
        self.waveforms = {(split, record["id"]): waveform(record, index)
                          for split, split_records in records.items() for index, record in enumerate(split_records)}

    def get(self, split: str, utt_id: str, layers=None) -> np.ndarray:
        wav = torch.from_numpy(self.waveforms[(split, utt_id)])[None].to(self.device)
        with torch.no_grad():
            states, frames = self.upstream(wav, torch.tensor([wav.shape[1]], device=self.device))
            features = torch.stack(states, dim=2)[0, : int(frames[0])].float().cpu().numpy()
        if layers is not None:
            features = features[:, list(layers)]
        return features.mean(axis=0, keepdims=True) if self.attrs["pooled"] else features


class RecordingSampler:
    """Yields the batches of index lists it wraps and keeps them (to count each step's audio)."""

    def __init__(self, batches):
        self.batches, self.taken = iter(batches), []

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self.batches)
        self.taken.append(batch)
        return batch


class TimedBatches:
    """Wraps the trainer's batch iterator: adds up the time spent in `next` (reading the store or
    running the upstream, making the items, collating) and the padded and valid frames."""

    def __init__(self, batches, sampler: RecordingSampler):
        self.batches, self.sampler = batches, sampler
        self.wall = self.cpu = 0.0
        self.padded = self.valid = 0

    def __iter__(self):
        return self

    def __next__(self):
        wall, cpu = time.perf_counter(), time.process_time()
        batch = next(self.batches)
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu
        self.padded += int(batch["lengths"].numel() * batch["features"].shape[1])
        self.valid += int(batch["lengths"].sum())
        return batch


def random_batches(num_items: int, batch_size: int):
    """The trainer's own order (`minisuperb.downstream.data.training_batches`, seed 0)."""
    return training_batches(num_items, batch_size, 0, 0)


def bucketed_batches(records: list[dict], batch_size: int, seed: int = 0):
    """Length-bucketed batches (as s3prl's ASR dataset): consecutive utterances in length order,
    the batches in a seeded random order per epoch."""
    order = sorted(range(len(records)), key=lambda i: records[i]["num_samples"])
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    epoch = 0
    while True:
        permutation = torch.randperm(len(batches), generator=torch.Generator().manual_seed(seed + epoch)).tolist()
        yield from (batches[i] for i in permutation)
        epoch += 1


def training_iterator(trainer: Trainer, bucketed: bool = False) -> TimedBatches:
    items, batch_size = trainer.items["train"], int(trainer.settings["batch_size"])
    order = bucketed_batches(items.records, batch_size) if bucketed else random_batches(len(items), batch_size)
    sampler = RecordingSampler(order)
    return TimedBatches(iter(make_loader(items, sampler, trainer.spec.num_workers, 0)), sampler)


def timed_step(trainer: Trainer, batches: TimedBatches) -> dict:
    """One optimizer step (`accumulate` forward passes): wall and CPU seconds, of which getting
    the batches; valid and padded frames; audio seconds."""
    batches.wall = batches.cpu = 0.0
    batches.padded = batches.valid = 0
    taken = len(batches.sampler.taken)
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    sync()
    wall, cpu = time.perf_counter(), time.process_time()
    trainer._train_step(batches)
    sync()
    records = trainer.items["train"].records
    samples = sum(records[i]["num_samples"] for batch in batches.sampler.taken[taken:] for i in batch)
    return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
            "data_wall_s": batches.wall, "data_cpu_s": batches.cpu,
            "frames": batches.valid, "padded_frames": batches.padded, "audio_s": samples / SAMPLE_RATE}


def head_train_macs_per_frame(trainer: Trainer) -> dict:
    """Forward MACs per frame of the head (thop, on the first training item) and the featurizer."""
    batch = trainer.task.collate([trainer.items["train"][0]])
    trainer.featurizer.eval()
    with torch.no_grad():
        features, lengths = trainer._features(batch)
    head = head_macs_per_frame(trainer.task, trainer.head, features, lengths, batch)
    return {"head": head, "featurizer": trainer.featurizer.macs_per_frame(int(trainer.store.attrs["dim"]))}


def upstream_macs_per_second(upstream, num_samples: list[int], device: str = "cpu") -> float:
    """torch's flop-counter MACs per audio second at these lengths (`minisuperb.upstreams.macs`;
    older versions of count_macs took no lengths and probed 1 s)."""
    if "num_samples" in inspect.signature(count_macs).parameters:
        return float(count_macs(upstream, num_samples, device)["macs_per_second"])
    counted = count_macs(upstream, device)
    return float(counted.get("macs_per_second_flop_counter", counted["macs_per_second"]))


def profile_step(trainer: Trainer, batches: TimedBatches) -> dict:
    """cProfile of one training step: seconds in the parts of the offline pipeline."""
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    trainer._train_step(batches)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (calls, ncalls, tottime, cumtime, callers)}

    def cumulative(*names) -> float:
        return sum(entry[3] for key, entry in stats.items() if any(key[2] == name or f"{key[0]}:{key[2]}".endswith(name)
                                                                  for name in names))

    def own(*names) -> float:
        return sum(entry[2] for key, entry in stats.items() if key[2] in names)

    total = sum(entry[2] for entry in stats.values())
    return {
        "total_s": total,
        "store_read_s": cumulative("reader.py:get"),
        "float16_to_float32_s": own("<method 'astype' of 'numpy.ndarray' objects>"),
        "make_item_s": cumulative("make_item"),
        "stft_s": cumulative("functional.py:stft"),
        "collate_s": cumulative("collate"),
        "pad_features_s": cumulative("pad_features"),
        "featurizer_forward_s": cumulative("featurizer.py:forward"),
        "layer_norm_s": cumulative("functional.py:layer_norm"),
        "einsum_s": cumulative("functional.py:einsum"),
        "spec_augment_s": cumulative("spec_augment"),
        "loss_forward_s": cumulative("loss"),
        "lstm_forward_s": cumulative("rnn.py:forward"),
        "backward_s": cumulative("_engine_run_backward"),
        "optimizer_s": cumulative("optimizer.py:wrapper"),
        "clip_grad_s": cumulative("clip_grad_norm_"),
    }


def profile_ops(trainer: Trainer, batches: TimedBatches, rows: int = 12) -> list[dict]:
    """torch.profiler of one training step: the ops with the most self CPU time (autograd's
    CopySlices, the backward of in-place slice assignment, shows up here and not in cProfile)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        trainer._train_step(batches)
    events = sorted(profiler.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return [{"op": e.key, "self_cpu_s": e.self_cpu_time_total / 1e6, "share": e.self_cpu_time_total / total,
             "calls": e.count} for e in events[:rows]]


# --- bench-local variants of the pipeline (candidate fixes, measured against the code as it is) ---


def spec_augment_inplace(features, lengths, generator=None, time_masks=2, time_width=40, freq_masks=4,
                         freq_width=50, time_warp_window=0):
    """The trainer's SpecAugment before the fix (the "before" side): the same draws and output as
    `minisuperb.downstream.featurizer.spec_augment`, but each span zeroed by an in-place slice
    assignment, so autograd records one CopySlices per span, each copying the whole gradient in
    the backward pass (6 spans x 32 utterances = 192 copies of [32, T, 768] per ASR step)."""
    from minisuperb.downstream.featurizer import _random_span, time_warp

    if time_warp_window > 0:
        masked = torch.stack([
            torch.cat([time_warp(row[:length], time_warp_window, generator), row[length:]])
            for row, length in zip(features, lengths.tolist())
        ])
    else:
        masked = features.clone()
    dim = features.shape[-1]
    for row, length in enumerate(lengths.tolist()):
        for _ in range(time_masks):
            start, width = _random_span(length, time_width, generator)
            masked[row, start : start + width, :] = 0.0
        for _ in range(freq_masks):
            start, width = _random_span(dim, freq_width, generator)
            masked[row, :, start : start + width] = 0.0
    return masked


class RamPooledStore:
    """A pooled (SID) store held in memory: every utterance read once at start (float16, as on
    disk: 13 x 768 x 2 bytes each), then served without zarr. The real MiniSUPERB SID subsets
    (28,916 utterances) take 0.58 GB this way for a Base model."""

    def __init__(self, store, records: dict[str, list[dict]]):
        started = time.process_time()
        self.attrs, self.path = dict(store.attrs), getattr(store, "path", "")
        self.rows = {(split, r["id"]): store.get(split, r["id"]).astype(np.float16)
                     for split, split_records in records.items() for r in split_records}
        self.load_cpu_s = time.process_time() - started

    def get(self, split: str, utt_id: str, layers=None) -> np.ndarray:
        rows = self.rows[(split, utt_id)]
        return (rows if layers is None else rows[:, list(layers)]).astype(np.float32)


VARIANTS = {
    "as_is": "the code as it is",
    "specaug_inplace": "SpecAugment spans zeroed in place, as before the fix (tasks with specaug: ASR), both sides",
    "ram_pooled": "pooled store held in RAM (SID), offline side",
    "bucketed": "length-bucketed batches (as s3prl's ASR), both sides",
}


def applies(variant: str, settings: dict, store) -> bool:
    return {"as_is": True, "specaug_inplace": "specaug" in settings, "ram_pooled": bool(store.attrs["pooled"]),
            "bucketed": not store.attrs["pooled"]}[variant]


@contextlib.contextmanager
def variant_code(variant: str):
    """Swap in the variant's code for the duration (the trainer module's spec_augment)."""
    import minisuperb.downstream.loop as loop

    if variant != "specaug_inplace":
        yield
        return
    original = loop.spec_augment
    loop.spec_augment = spec_augment_inplace
    try:
        yield
    finally:
        loop.spec_augment = original


# --- the comparison ----------------------------------------------------------------------------


def compare_task(root: Path, task: str, upstream, args) -> list[dict]:
    """Every applicable variant of `args.variants` for one task, on one synthetic store."""
    settings = resolve_settings(args.protocol, task)
    per_step = utterances_per_step(settings)
    mean_seconds = CORPUS_SECONDS[task] * args.length_scale
    built = time.perf_counter()
    store, records = synthetic_store(root / task, task, per_step * args.distinct_batches, mean_seconds)
    build_s = time.perf_counter() - built
    upstream_per_s = upstream_macs_per_second(upstream, [r["num_samples"] for r in records["train"]])
    fly_store = OnTheFlyStore(store, upstream, records)
    results = []
    for variant in args.variants:
        if not applies(variant, settings, store):
            continue
        offline_store = RamPooledStore(store, records) if variant == "ram_pooled" else store
        result = compare_sides(root / task / variant, task, settings, offline_store, fly_store, records,
                               variant, upstream_per_s, args)
        result |= {"store_build_s": round(build_s, 1), "mean_seconds": mean_seconds}
        if variant == "ram_pooled":
            result["ram_load_cpu_s"] = offline_store.load_cpu_s
        results.append(result)
        print(json.dumps(result), flush=True)
    return results


def compare_sides(root: Path, task: str, settings: dict, offline_store, fly_store, records, variant: str,
                  upstream_per_s: float, args) -> dict:
    offline = Trainer(run_spec(task, settings, root / "out-offline"), offline_store, records)
    fly = Trainer(run_spec(task, settings, root / "out-fly"), fly_store, records)
    per_frame = head_train_macs_per_frame(offline)
    bucketed = variant == "bucketed"
    sides = {"offline": (offline, training_iterator(offline, bucketed)),
             "on_the_fly": (fly, training_iterator(fly, bucketed))}
    steps = {name: [] for name in sides}
    with variant_code(variant):
        for step in range(args.warmup + args.steps):
            for name, (trainer, batches) in sides.items():
                row = timed_step(trainer, batches)
                if step >= args.warmup:
                    steps[name].append(row)
                print(f"  {task} [{variant}] step {step} {name}: {row['wall_s']:.2f} s wall, {row['cpu_s']:.2f} s CPU "
                      f"(batches {row['data_cpu_s']:.2f} s CPU)", file=sys.stderr, flush=True)
        profile = profile_step(offline, sides["offline"][1]) if args.profile else None
        ops = profile_ops(offline, sides["offline"][1]) if args.torch_profile else None

    def total(name, key):
        return sum(row[key] for row in steps[name])

    count = len(steps["offline"])
    frames, audio_s = total("offline", "frames"), total("offline", "audio_s")
    head_train = TRAIN_MACS_PER_FORWARD * (per_frame["head"] + per_frame["featurizer"]) * frames
    upstream_macs = upstream_per_s * audio_s
    predicted = (upstream_macs + head_train) / head_train
    result = {
        "task": task, "variant": variant,
        "settings": {key: settings[key] for key in ("batch_size", "accumulate", "optimizer")},
        "utterances_per_step": utterances_per_step(settings), "timed_steps": count,
        "frames_per_step": frames / count, "audio_seconds_per_step": audio_s / count,
        "padding": total("offline", "padded_frames") / frames - 1,
        "macs": {"upstream_per_audio_second": upstream_per_s, "head_per_frame": per_frame["head"],
                 "featurizer_per_frame": per_frame["featurizer"], "upstream_per_step": upstream_macs / count,
                 "head_train_per_step": head_train / count},
        "predicted_speedup": predicted,
    }
    for name in sides:
        result[name] = {key: total(name, key) / count for key in ("wall_s", "cpu_s", "data_wall_s", "data_cpu_s")}
        result[name]["steps_wall_s"] = [round(row["wall_s"], 3) for row in steps[name]]
        result[name]["steps_cpu_s"] = [round(row["cpu_s"], 3) for row in steps[name]]
    for clock in ("wall", "cpu"):
        measured = result["on_the_fly"][f"{clock}_s"] / result["offline"][f"{clock}_s"]
        result[f"measured_speedup_{clock}"] = measured
        result[f"measured_over_predicted_{clock}"] = measured / predicted
    # What each side achieved, in MACs per CPU-second: the head's training step (offline, all of
    # it) and the upstream (the on-the-fly side's batch time, nearly all upstream).
    result["gmacs_per_cpu_s"] = {
        "head_train_offline": head_train / count / result["offline"]["cpu_s"] / 1e9,
        "upstream_on_the_fly": upstream_macs / count / max(1e-9, result["on_the_fly"]["data_cpu_s"]) / 1e9,
    }
    if profile:
        result["offline_profile"] = profile
    if ops:
        result["offline_ops"] = ops
    return result


def offline_ab(root: Path, task: str, args) -> dict:
    """The offline step alone, one trainer per variant on one store, steps alternating between
    the variants (`--offline-ab`): a steadier before/after than one step each."""
    settings = resolve_settings(args.protocol, task)
    store, records = synthetic_store(root / task, task, utterances_per_step(settings) * args.distinct_batches,
                                     CORPUS_SECONDS[task] * args.length_scale)
    variants = [v for v in args.variants if applies(v, settings, store)]
    sides = {}
    for variant in variants:
        offline_store = RamPooledStore(store, records) if variant == "ram_pooled" else store
        trainer = Trainer(run_spec(task, settings, root / task / f"ab-{variant}"), offline_store, records)
        sides[variant] = (trainer, training_iterator(trainer, variant == "bucketed"))
    steps = {variant: [] for variant in variants}
    for step in range(args.warmup + args.steps):
        for variant, (trainer, batches) in sides.items():
            with variant_code(variant):
                row = timed_step(trainer, batches)
            if step >= args.warmup:
                steps[variant].append(row)
            print(f"  {task} offline A/B [{variant}] step {step}: {row['cpu_s']:.2f} s CPU", file=sys.stderr, flush=True)
    result = {"task": task, "offline_ab": {}}
    for variant, rows in steps.items():
        result["offline_ab"][variant] = {
            "cpu_s_median": statistics.median(r["cpu_s"] for r in rows), "wall_s_median": statistics.median(r["wall_s"] for r in rows),
            "cpu_s": [round(r["cpu_s"], 3) for r in rows], "frames": [r["frames"] for r in rows],
            "padding": sum(r["padded_frames"] for r in rows) / sum(r["frames"] for r in rows) - 1,
            "cpu_s_per_1000_frames": 1000 * sum(r["cpu_s"] for r in rows) / sum(r["frames"] for r in rows)}
    print(json.dumps(result), flush=True)
    return result


def markdown(results: list[dict]) -> str:
    lines = ["| task | variant | batch | audio s / step | frames / step | padding | offline s / step (wall, CPU) "
             "| of which batches (CPU) | on the fly s / step (wall, CPU) | of which upstream (CPU) | predicted (MACs) "
             "| measured (wall) | measured (CPU) | measured / predicted (CPU) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        off, fly, s = r["offline"], r["on_the_fly"], r["settings"]
        batch = f"{s['batch_size']}" + (f" x {s['accumulate']}" if s["accumulate"] > 1 else "")
        lines.append(
            f"| {r['task']} | {r['variant']} | {batch} | {r['audio_seconds_per_step']:.0f} | {r['frames_per_step']:,.0f} "
            f"| {r['padding']:.0%} | {off['wall_s']:.2f}, {off['cpu_s']:.2f} | {off['data_cpu_s']:.2f} "
            f"| {fly['wall_s']:.2f}, {fly['cpu_s']:.2f} | {fly['data_cpu_s']:.2f} "
            f"| {r['predicted_speedup']:,.1f}x | {r['measured_speedup_wall']:,.1f}x | {r['measured_speedup_cpu']:,.1f}x "
            f"| {r['measured_over_predicted_cpu']:.0%} |")
    return "\n".join(lines)


def lstm_threads_check(threads_list=(1, 2), repeats: int = 2) -> dict:
    """One LSTM layer of the ASR head (256 -> 256, batch 32 x 600 frames), forward + backward,
    at each thread count, alternating: CPU and wall seconds (best of `repeats`)."""
    lstm = torch.nn.LSTM(256, 256, batch_first=True)
    x = torch.randn(32, 600, 256)
    before = torch.get_num_threads()
    best = {threads: [float("inf"), float("inf")] for threads in threads_list}
    for _ in range(repeats):
        for threads in threads_list:
            torch.set_num_threads(threads)
            wall, cpu = time.perf_counter(), time.process_time()
            lstm(x)[0].sum().backward()
            best[threads] = [min(best[threads][0], time.perf_counter() - wall),
                             min(best[threads][1], time.process_time() - cpu)]
    torch.set_num_threads(before)
    return {f"{threads}_threads": {"wall_s": round(w, 3), "cpu_s": round(c, 3)} for threads, (w, c) in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--protocol", default="minisuperb")
    parser.add_argument("--steps", type=int, default=2, help="timed optimizer steps per side, task and variant")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--length-scale", type=float, default=1.0,
                        help="utterance lengths x this (both sides alike); 1 = the real corpora's means")
    parser.add_argument("--distinct-batches", type=int, default=2,
                        help="training utterances = this x utterances per step (later steps reuse them)")
    parser.add_argument("--kernels", choices=["stock", "onednn"], default="stock",
                        help="the on-the-fly upstream's linear layers: torch's (as s3prl) or oneDNN (our extraction)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=["as_is"],
                        help="pipeline variants to run, each where it applies: " +
                             "; ".join(f"{name}: {text}" for name, text in VARIANTS.items()))
    parser.add_argument("--profile", action="store_true", help="add a cProfile breakdown (CPU time) of one offline step")
    parser.add_argument("--torch-profile", action="store_true",
                        help="add the top ops (self CPU time, torch.profiler) of one offline step")
    parser.add_argument("--lstm-threads-check", action="store_true",
                        help="also time one ASR LSTM layer forward + backward at 1 and 2 threads")
    parser.add_argument("--offline-ab", action="store_true",
                        help="time only the offline step of each variant, alternating steps (no on-the-fly side)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    set_threads(args.threads)
    header = {"machine": f"{platform.processor() or platform.machine()}, {args.threads} thread(s), torch {torch.__version__}",
              "command": " ".join(sys.argv), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "kernels": args.kernels, "length_scale": args.length_scale}
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_offline_") as tmp:
        if args.offline_ab:
            ab = [offline_ab(Path(tmp), task, args) for task in args.tasks]
            if args.json:
                args.json.write_text(json.dumps({**header, "offline_ab": ab}, indent=2) + "\n")
            return
        upstream = base_upstream(Path(tmp), args.kernels)
        for task in args.tasks:
            results.extend(compare_task(Path(tmp), task, upstream, args))
            if args.json:
                args.json.write_text(json.dumps({**header, "results": results}, indent=2) + "\n")
    if args.lstm_threads_check:
        header["lstm_threads_check"] = lstm_threads_check()
        print(json.dumps(header["lstm_threads_check"]))
    if args.json:
        args.json.write_text(json.dumps({**header, "results": results}, indent=2) + "\n")
    print(markdown(results))


if __name__ == "__main__":
    main()

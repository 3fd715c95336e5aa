"""Time downstream training per task on synthetic stores of the demo's sizes.

Sizes the `demo` / `demo_full` presets (config/protocols.yaml): for each task and upstream shape
(fbank: 1 layer x 240 dims at 100 Hz; a tiny transformer: 3 layers x 64 dims at 50 Hz) it trains
`--steps` steps with the protocol's settings and reports seconds (wall and CPU) per training step
and per dev evaluation. Audio is noise (SE/SS load it), features are random: this measures cost, not quality.

    .venv/bin/python bench/bench_train.py --protocol demo --steps 20 --threads 1

`--item-memory-gb 0 2` times each (task, upstream) once per budget of kept items
(`downstream.item_memory_gb`; 0 makes every item at every use), in the same process.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from minisuperb.catalog import SPLITS
from minisuperb.corpora.manifest import write_manifest, write_subset
from minisuperb.downstream.loop import RunSpec, Trainer
from minisuperb.downstream.protocols import resolve_settings
from minisuperb.runtime import set_threads
from minisuperb.store import FeatureStore, StoreWriter

RATE = 16_000
UPSTREAMS = {  # name: (layers, dim, frame rate)
    "fbank": (1, 240, 100.0),
    "tiny_transformer": (3, 64, 50.0),
}
# The demo corpus with `paper` sampling (config/config.yaml): utterances per split.
DEMO_COUNTS = {"asr": (150, 40, 40), "sid": (60, 40, 40), "se": (45, 15, 30), "ss": (75, 20, 40)}
SPEAKERS = 10


def num_frames(samples: int, frame_rate: float) -> int:
    if frame_rate == 100.0:
        return 1 + samples // 160
    return (samples - 400) // 320 + 1  # the wav2vec 2.0 convolution front end


def write_wav(path: Path, rng: np.random.Generator, samples: int) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.1 * rng.normal(size=samples)).astype(np.float32), RATE)
    return str(path)


def make_record(task: str, split: str, index: int, samples: int, root: Path, rng: np.random.Generator) -> dict:
    speaker = index % SPEAKERS
    record = {"id": f"{split}-{index:04d}", "num_samples": samples, "sample_rate": RATE, "speaker": f"s{speaker}"}
    if task == "asr":
        words = rng.integers(3, 6)
        record.update(path="/unused.flac", transcript=" ".join(["HELLO", "WORLD", "THE", "CAT", "SAT"][:words]))
    elif task == "sid":
        record.update(path="/unused.wav", label=speaker)
    elif task == "se":
        record.update(path=write_wav(root / "wav" / f"{split}-{index}-noisy.wav", rng, samples),
                      clean_path=write_wav(root / "wav" / f"{split}-{index}-clean.wav", rng, samples))
    else:
        record.update(path=write_wav(root / "wav" / f"{split}-{index}-mix.wav", rng, samples),
                      source_paths=[write_wav(root / "wav" / f"{split}-{index}-s{s}.wav", rng, samples) for s in (1, 2)])
    return record


def synthetic_task(root: Path, task: str, upstream: str, seconds: tuple[float, float], seed: int = 0):
    layers, dim, frame_rate = UPSTREAMS[upstream]
    rng = np.random.default_rng(seed)
    records = {}
    store_path = root / "features" / upstream / f"{task}.zarr"
    with StoreWriter(store_path, upstream, "bench", layers, dim, frame_rate, pooled=task == "sid") as writer:
        for split, count in zip(SPLITS, DEMO_COUNTS[task]):
            records[split] = []
            for index in range(count):
                samples = int(rng.uniform(*seconds) * RATE)
                record = make_record(task, split, index, samples, root / task, rng)
                writer.add(split, record["id"], rng.normal(size=(num_frames(samples, frame_rate), layers, dim)).astype(np.float32))
                records[split].append(record)
    for split, split_records in records.items():
        write_manifest(split_records, root / "data" / task / "manifest" / f"{split}.jsonl")
    write_subset({split: [r["id"] for r in split_records] for split, split_records in records.items()},
                 root / "data" / task / "subsets")
    return FeatureStore.open(store_path), records


def time_task(root: Path, task: str, upstream: str, settings: dict, steps: int, seconds,
              item_memory_gb: float = 0.0) -> dict:
    store, records = synthetic_task(root, task, upstream, seconds)
    spec = RunSpec(task=task, model=upstream, protocol="bench", sampling="bench", seed=0, train_seed=0,
                   settings=settings | {"steps": steps, "eval_every": steps, "checkpoint_every": steps},
                   out_dir=root / "out" / upstream / task / f"memory{item_memory_gb:g}",
                   item_memory_bytes=int(item_memory_gb * 1e9))
    trainer = Trainer(spec, store, records)
    started, started_cpu = time.perf_counter(), time.process_time()
    trainer.fit()
    fit_s, fit_cpu_s = time.perf_counter() - started, time.process_time() - started_cpu
    started, started_cpu = time.perf_counter(), time.process_time()
    trainer.evaluate("dev")
    eval_s, eval_cpu_s = time.perf_counter() - started, time.process_time() - started_cpu
    # CPU seconds are what a shared machine cannot inflate much; wall seconds are what one waits.
    return {"task": task, "upstream": upstream, "steps": steps, "item_memory_gb": item_memory_gb,
            "s_per_step": round((fit_s - eval_s) / steps, 4), "cpu_s_per_step": round((fit_cpu_s - eval_cpu_s) / steps, 4),
            "dev_eval_s": round(eval_s, 3), "dev_eval_cpu_s": round(eval_cpu_s, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default="demo")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tasks", nargs="+", default=["asr", "sid", "se", "ss"])
    parser.add_argument("--upstreams", nargs="+", default=list(UPSTREAMS))
    parser.add_argument("--seconds", type=float, nargs=2, default=(1.0, 2.5), help="utterance length range")
    parser.add_argument("--item-memory-gb", type=float, nargs="+", default=[0.0],
                        help="budgets of kept items to time, each in turn")
    args = parser.parse_args()
    set_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks:
            settings = resolve_settings(args.protocol, task)
            for upstream in args.upstreams:
                for budget in args.item_memory_gb:
                    row = time_task(Path(tmp) / upstream, task, upstream, settings, args.steps,
                                    tuple(args.seconds), budget)
                    print(json.dumps(row | {"protocol": args.protocol, "threads": args.threads}), flush=True)


if __name__ == "__main__":
    main()

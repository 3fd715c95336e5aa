"""Extraction throughput and bytes on disk: ours vs the reference implementation's method.

The reference (MiniSUPERB stage 1, s3prl `run_downstream.py -m extract`) runs the upstream at
batch size 1 in float32 under `torch.no_grad()` and `torch.save`s a tuple of every layer's
[T, D] tensor per utterance, with torch's stock kernels. Ours is
`minisuperb.upstreams.extract.extract`: length-bucketed batches, `inference_mode`, float32 with
linear layers on oneDNN (or bfloat16 autocast, `--precisions bfloat16`), a float16 compressed
Zarr store, the padding probe and MAC counting included. A third method, the reference loop with
our float32 linear layers, separates the kernels' share of the gain from the rest. All run the
same model (a randomly initialised transformers wav2vec 2.0 Base shape: 12 layers of 768,
group-norm conv front end; or `--shape tiny`, the demo zoo's HuBERT) on the same synthetic
speech-like audio, in one process, alternating methods over `--repeats` rounds; each method's
best round (by wall time) is reported, with its wall time and its CPU time (this process, all
threads: steadier than wall time on a shared machine). All include loading the model.

    .venv/bin/python bench/bench_extract.py --minutes 2.5 --threads 2 --repeats 3 --batch-seconds 16 1 \
        --precisions float32 bfloat16
    .venv/bin/python bench/bench_extract.py --shape tiny --layers 2 --shortest 1 --longest 2.5 \
        --minutes 5 --threads 1 --repeats 3 --batch-seconds 16 1 --precisions float32 bfloat16
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from minisuperb.corpora import audio
from minisuperb.corpora.manifest import write_subset
from minisuperb.runtime import set_threads
from minisuperb.upstreams import load_upstream
from minisuperb.upstreams.demo_models import build_demo_model
from minisuperb.upstreams.extract import PRECISIONS, extract
from minisuperb.upstreams.runner import use_onednn_linears

SAMPLE_RATE = 16_000


def speech_like(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Voiced syllables (a gliding pitch with harmonics, ~4 per second) between short pauses,
    plus a little noise: the energy envelope and spectrum of speech, not its content."""
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    pitch = rng.uniform(90, 220) * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.2, 0.6) * t))
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * rng.uniform(3, 5) * t + rng.uniform(0, 6)), 0, None) ** 2
    wav = 0.1 * voiced * envelope + 0.005 * rng.standard_normal(n)
    return wav.astype(np.float32)


def write_corpus(root: Path, minutes: float, seed: int, shortest: float = 2.0,
                 longest: float = 15.0) -> tuple[Path, Path, list[dict]]:
    """Utterances of `shortest`-`longest` s until `minutes` of audio; a manifest and subset lists
    (all in `test`); returns their folders and the records."""
    rng = np.random.default_rng(seed)
    records, total = [], 0.0
    while total < minutes * 60:
        seconds = float(rng.uniform(shortest, longest))
        utt_id = f"utt{len(records):04d}"
        path = root / "wav" / f"{utt_id}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, speech_like(seconds, rng), SAMPLE_RATE)
        records.append({"id": utt_id, "path": str(path), "num_samples": sf.info(str(path)).frames,
                        "sample_rate": SAMPLE_RATE, "speaker": "s"})
        total += seconds
    manifest_dir = root / "manifest"
    manifest_dir.mkdir()
    (manifest_dir / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    write_subset({"train": [], "dev": [], "test": [r["id"] for r in records]}, root / "subsets")
    return manifest_dir, root / "subsets", records


def build_model(out: Path, shape: str, layers: int, seed: int) -> Path:
    """`base`: wav2vec 2.0 Base's shape (768 dims, 512-channel convs, group norm); `tiny`: the
    demo zoo's HuBERT (64 dims, 32-channel convs)."""
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    if shape == "tiny":
        return build_demo_model("hubert", out, seed, layers=layers)
    torch.manual_seed(seed)
    Wav2Vec2Model(Wav2Vec2Config(num_hidden_layers=layers)).save_pretrained(out)
    return out


def reference_method(entry: dict, records: list[dict], out: Path, onednn_linears: bool = False) -> dict:
    """Batch size 1, float32, no_grad, one torch.save of all layers per utterance; with torch's
    stock kernels unless `onednn_linears`."""
    started, cpu_started = time.perf_counter(), time.process_time()
    upstream = load_upstream(entry)
    if onednn_linears:
        use_onednn_linears(upstream)
    out.mkdir(parents=True)
    for record in records:
        wav = torch.from_numpy(audio.load(record["path"]))[None]
        with torch.no_grad():
            layers, frames = upstream(wav, torch.tensor([wav.shape[1]]))
        torch.save(tuple(layer[0, : frames[0]] for layer in layers), out / f"{record['id']}.ckpt")
    return {"wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu_started,
            "bytes": sum(f.stat().st_size for f in out.iterdir())}


def our_method(entry: dict, manifest_dir: Path, subsets: Path, out: Path, batch_seconds: float,
               precision: str) -> dict:
    started, cpu_started = time.perf_counter(), time.process_time()
    # A view of its own under `out`: no other store there to copy from (minisuperb.store.reuse).
    summary = extract("bench", {**entry, "precision": precision}, "asr", manifest_dir, subsets, out / "asr" / "seed0.zarr",
                      out / "asr" / "seed0.json", batch_seconds=batch_seconds, device="cpu")
    return {"wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu_started,
            "bytes": summary["bytes_on_disk"],
            "batching": summary["batching"], "loop_audio_s_per_s": summary["audio_seconds_per_second"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.5, help="minutes of audio")
    parser.add_argument("--shape", choices=["base", "tiny"], default="base")
    parser.add_argument("--layers", type=int, default=12, help="transformer layers (Base: 12)")
    parser.add_argument("--shortest", type=float, default=2.0, help="shortest utterance, seconds")
    parser.add_argument("--longest", type=float, default=15.0, help="longest utterance, seconds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-seconds", type=float, nargs="+", default=[64.0],
                        help="our batch budgets to run (each, with each precision, is one method)")
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=["float32"],
                        help="our CPU compute precisions to run")
    parser.add_argument("--repeats", type=int, default=2, help="alternating rounds per method")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    set_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="bench_extract_") as tmp:
        tmp = Path(tmp)
        manifest_dir, subsets, records = write_corpus(tmp / "data", args.minutes, args.seed, args.shortest, args.longest)
        audio_seconds = sum(r["num_samples"] for r in records) / SAMPLE_RATE
        entry = {"loader": "transformers", "path": str(build_model(tmp / "model", args.shape, args.layers, args.seed))}
        methods = {"reference": lambda out: reference_method(entry, records, out),
                   "reference_onednn_linears": lambda out: reference_method(entry, records, out, onednn_linears=True)}
        for budget in args.batch_seconds:
            for precision in args.precisions:
                methods[f"ours_{budget:g}s_{precision}"] = lambda out, budget=budget, precision=precision: our_method(
                    entry, manifest_dir, subsets, out, budget, precision)
        rounds: dict[str, list[dict]] = {name: [] for name in methods}
        for round_index in range(args.repeats):
            for name, method in methods.items():
                rounds[name].append(method(tmp / f"{name}_{round_index}"))
            print(f"round {round_index}: " + ", ".join(
                f"{name} {audio_seconds / r[-1]['wall_s']:.2f} audio s/s" for name, r in rounds.items()), flush=True)

    best = {name: min(runs, key=lambda r: r["wall_s"]) for name, runs in rounds.items()}
    reference = best["reference"]
    print(json.dumps({
        "machine": f"{platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}",
        "model": f"random transformers model, {args.shape} shape, {args.layers} layers",
        "utterances": len(records), "audio_seconds": round(audio_seconds, 1),
        "rounds_wall_s": {name: [round(r["wall_s"], 2) for r in runs] for name, runs in rounds.items()},
        "rounds_cpu_s": {name: [round(r["cpu_s"], 2) for r in runs] for name, runs in rounds.items()},
    }, indent=2))
    print("| method | audio s / s (wall) | vs reference | audio s / CPU-s | vs reference | bytes | vs reference |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in best.items():
        print(f"| {name}{' (' + r['batching'] + ')' if 'batching' in r else ''} | {audio_seconds / r['wall_s']:.2f} "
              f"| {reference['wall_s'] / r['wall_s']:.2f}x | {audio_seconds / r['cpu_s']:.2f} "
              f"| {reference['cpu_s'] / r['cpu_s']:.2f}x | {r['bytes'] / 1e6:.1f} MB | {r['bytes'] / reference['bytes']:.3f} |")


if __name__ == "__main__":
    main()

"""Benchmark the feature store against the reference method, and against what ASR training eats.

Writes synthetic Base-shaped features (13 layers x 768 dims at 50 fps by default) for
`--seconds` of audio two ways: the reference (float32, one `torch.save` file per utterance) and
the Zarr store once per codec. Reports bytes per audio hour, write throughput (time in the
write calls only, not in generating the features) and random-read throughput
(frames/s, all layers, one utterance at a time in random order), the frames/s a forward+backward
of the MiniSUPERB ASR head consumes, and the disk the real protocol needs per Base/Large model.
Prints Markdown; the numbers in BENCHMARKS.md come from it.

    .venv/bin/python bench/bench_store.py            # quick defaults, < 2 min on 2 cores
"""

from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from minisuperb.runtime import set_threads
from minisuperb.store import FeatureStore, StoreWriter
from minisuperb.store.layout import CODECS, DEFAULT_CODEC, bytes_on_disk

GIB = 2**30
# MiniSUPERB subsets per task: (utterances or hours, frames per utterance), all splits together.
# ASR: 10 h train + dev-clean 5.4 h + test-clean 5.4 h; SID: pooled to one vector per utterance;
# SE: VoiceBank-DEMAND ~3 s; SS: Libri2Mix ~5 s.
PROTOCOL_FRAMES_AT_50FPS = {
    "asr": (10 + 5.4 + 5.4) * 3600 * 50,
    "sid": 13_761 + 6_904 + 8_251,
    "se": (1_000 + 300 + 824) * 3 * 50,
    "ss": (1_400 + 1_000 + 3_000) * 5 * 50,
}
MODEL_SHAPES = {"Base": (13, 768), "Large": (25, 1024)}


def synthetic_utterances(seconds: float, utterance_seconds: float, layers: int, dim: int,
                         fps: float, signal: str, seed: int = 0):
    """Yield (id, float32 [frames, layers, dim]) until `seconds` of audio are covered.

    `random`: i.i.d. Gaussian with per-layer scales: the worst case for compression.
    `smooth`: an AR(1) process over time (correlation 0.95) with log-normal per-channel scales
    and offsets, closer to real hidden states, which drift slowly and have outlier channels.
    """
    rng = np.random.default_rng(seed)
    channel_scale = np.exp(rng.normal(0, 1, (layers, dim))).astype(np.float32)
    channel_offset = rng.normal(0, 1, (layers, dim)).astype(np.float32)
    covered, index = 0.0, 0
    while covered < seconds:
        duration = float(np.clip(rng.normal(utterance_seconds, utterance_seconds / 4), 1, None))
        frames = max(1, int(duration * fps))
        noise = rng.standard_normal((frames, layers, dim), dtype=np.float32)
        if signal == "smooth":
            for t in range(1, frames):
                noise[t] = 0.95 * noise[t - 1] + 0.31 * noise[t]
            features = noise * channel_scale + channel_offset
        else:
            features = noise * np.linspace(0.5, 4, layers, dtype=np.float32)[None, :, None]
        yield f"utt{index:05d}", features
        covered += duration
        index += 1


class Clock:
    """Wall time and CPU time (all threads of this process) since creation. On a shared
    machine wall time depends on the neighbours' load; CPU time much less."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def rates(self, frames: int, name: str) -> dict:
        return {f"{name}_fps": frames / (time.perf_counter() - self.wall),
                f"{name}_fps_cpu": frames / (time.process_time() - self.cpu)}


def bench_reference(utterances, workdir: Path, reads: int, rng) -> dict:
    """float32, one torch.save file per utterance (what s3prl/MiniSUPERB write)."""
    folder = workdir / "reference"
    folder.mkdir()
    frames, write_s = 0, 0.0
    for utt_id, features in utterances:
        start = time.perf_counter()
        torch.save(torch.from_numpy(features), folder / f"{utt_id}.pt")
        write_s += time.perf_counter() - start
        frames += len(features)
    files = sorted(folder.iterdir())
    order = rng.choice(len(files), size=min(reads, len(files)), replace=False)
    read = Clock()
    read_frames = sum(len(torch.load(files[i])) for i in order)
    return {"method": "reference: float32, torch.save per utterance",
            "bytes": bytes_on_disk(folder), "frames": frames,
            "write_fps": frames / write_s, **read.rates(read_frames, "read")}


def bench_store(utterances, workdir: Path, codec: str, reads: int, layers: int, dim: int,
                fps: float, rng) -> dict:
    path = workdir / f"store-{codec}.zarr"
    write_s = 0.0
    with StoreWriter(path, "synthetic", "bench", layers, dim, fps, codec=codec) as writer:
        for utt_id, features in utterances:
            start = time.perf_counter()
            writer.add("train", utt_id, features)
            write_s += time.perf_counter() - start
        start = time.perf_counter()
        attrs = writer.close()
        write_s += time.perf_counter() - start
    store = FeatureStore.open(path, "bench")
    ids = store.ids("train")
    order = rng.choice(len(ids), size=min(reads, len(ids)), replace=False)
    read = Clock()
    read_frames = sum(len(store.get("train", ids[i])) for i in order)
    return {"method": f"store: float16, {codec}", "bytes": attrs["bytes_on_disk"],
            "frames": attrs["splits"]["train"]["frames"],
            "write_fps": attrs["splits"]["train"]["frames"] / write_s,
            **read.rates(read_frames, "read")}


def asr_head_fps(layers: int, dim: int, batch: int, frames: int, steps: int) -> dict:
    """Frames/s through a training step of the MiniSUPERB ASR head fed from stored layers:
    per-layer LayerNorm + softmax-weighted sum, Linear(D->256), 3-layer BiLSTM 256, CTC."""
    torch.manual_seed(0)
    weights = torch.nn.Parameter(torch.zeros(layers))
    project = torch.nn.Linear(dim, 256)
    lstm = torch.nn.LSTM(256, 256, num_layers=3, bidirectional=True, dropout=0.2,
                         batch_first=True)
    classify = torch.nn.Linear(512, 32)
    params = [weights, *project.parameters(), *lstm.parameters(), *classify.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-4)

    def step(batch_size: int) -> None:
        stacked = torch.randn(batch_size, frames, layers, dim)
        normed = torch.nn.functional.layer_norm(stacked, (dim,))
        mixed = (normed * weights.softmax(0)[:, None]).sum(2)
        logits = classify(lstm(project(mixed))[0]).log_softmax(-1).transpose(0, 1)
        targets = torch.randint(1, 32, (batch_size, frames // 4))
        loss = torch.nn.functional.ctc_loss(
            logits, targets, torch.full((batch_size,), frames), torch.full((batch_size,),
                                                                           frames // 4))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step(2)  # warm-up (allocator, kernels) on a small batch
    clock = Clock()
    for _ in range(steps):
        step(batch)
    return clock.rates(batch * frames * steps, "asr")


def protocol_disk_table(ratio_to_float16: float) -> str:
    """GiB one model's four stores need under the MiniSUPERB protocol, from the measured
    compressed/raw-float16 ratio, next to the reference method (float32, SID pooled too)."""
    lines = ["| model | " + " | ".join(PROTOCOL_FRAMES_AT_50FPS) + " | total | reference (float32) |",
             "|---|" + "---:|" * (len(PROTOCOL_FRAMES_AT_50FPS) + 2)]
    for name, (layers, dim) in MODEL_SHAPES.items():
        frame_bytes = layers * dim * 2
        per_task = {task: frames * frame_bytes * ratio_to_float16 / GIB
                    for task, frames in PROTOCOL_FRAMES_AT_50FPS.items()}
        reference = sum(PROTOCOL_FRAMES_AT_50FPS.values()) * layers * dim * 4 / GIB
        cells = " | ".join(f"{value:.1f}" for value in per_task.values())
        lines.append(f"| {name} ({layers}x{dim}) | {cells} | {sum(per_task.values()):.1f} | "
                     f"{reference:.1f} |")
    return "\n".join(lines)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").open()
                if line.startswith("model name")), platform.processor())
    return f"{cpu}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=240, help="audio seconds per signal")
    parser.add_argument("--utterance-seconds", type=float, default=12.0)
    parser.add_argument("--layers", type=int, default=13)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--fps", type=float, default=50.0)
    parser.add_argument("--signals", nargs="+", default=["random", "smooth"],
                        choices=["random", "smooth"])
    parser.add_argument("--codecs", nargs="+", default=list(CODECS), choices=list(CODECS))
    parser.add_argument("--reads", type=int, default=40, help="random utterance reads")
    parser.add_argument("--asr-batch", type=int, default=32)
    parser.add_argument("--asr-seconds", type=float, default=12.0)
    parser.add_argument("--asr-steps", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp folder")
    args = parser.parse_args()
    set_threads(args.threads)

    print(f"Machine: {machine()}\n")
    asr = asr_head_fps(args.layers, args.dim, args.asr_batch, int(args.asr_seconds * args.fps),
                       args.asr_steps)
    print(f"ASR head training step (batch {args.asr_batch} x {args.asr_seconds:g} s, "
          f"{args.threads} thread(s)): {asr['asr_fps']:,.0f} frames/s wall, "
          f"{asr['asr_fps_cpu']:,.0f} frames per CPU-second\n")
    print("| signal | method | GiB per audio hour | vs reference | write frames/s | "
          "read frames/s (wall) | read frames per CPU-s | read / ASR head (wall) | "
          "read / ASR head (CPU) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    ratios = {}
    for signal in args.signals:
        def utterances():
            return synthetic_utterances(args.seconds, args.utterance_seconds, args.layers,
                                        args.dim, args.fps, signal)
        workdir = Path(tempfile.mkdtemp(prefix="bench_store_", dir=args.workdir))
        try:
            rng = np.random.default_rng(1)
            rows = [bench_reference(utterances(), workdir, args.reads, rng)]
            for codec in args.codecs:
                rows.append(bench_store(utterances(), workdir, codec, args.reads, args.layers,
                                        args.dim, args.fps, rng))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        reference_per_frame = rows[0]["bytes"] / rows[0]["frames"]
        for row in rows:
            per_frame = row["bytes"] / row["frames"]
            per_hour = per_frame * args.fps * 3600 / GIB
            print(f"| {signal} | {row['method']} | {per_hour:.2f} | "
                  f"{per_frame / reference_per_frame:.3f} | {row['write_fps']:,.0f} | "
                  f"{row['read_fps']:,.0f} | {row['read_fps_cpu']:,.0f} | "
                  f"{row['read_fps'] / asr['asr_fps']:.1f}x | "
                  f"{row['read_fps_cpu'] / asr['asr_fps_cpu']:.1f}x |")
            if row["method"] == f"store: float16, {DEFAULT_CODEC}":
                ratios[signal] = per_frame / (args.layers * args.dim * 2)
    if ratios:
        signal, ratio = max(ratios.items(), key=lambda item: item[1])  # the worse one
        print(f"\nDisk per model for the MiniSUPERB protocol, GiB ({DEFAULT_CODEC}: compressed "
              f"size {ratio:.3f} of raw float16, the worst measured, on the `{signal}` signal; "
              f"SID pooled to one frame per utterance):\n")
        print(protocol_disk_table(ratio))


if __name__ == "__main__":
    main()

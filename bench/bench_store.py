"""Benchmark the feature store against the reference method, and against what ASR training eats.

Writes synthetic Base-shaped features (13 layers x 768 dims at 50 fps by default) for
`--seconds` of audio two ways: the reference (float32, one `torch.save` file per utterance) and
the Zarr store once per storage (float16, uint8) and codec. Reports bytes per audio hour, write
throughput (time in the write calls only, not in generating the features), random-read
throughput (frames/s, all layers, one utterance at a time in random order), the error of what a
store returns against the float32 features, the frames/s a forward+backward of the MiniSUPERB
ASR head consumes, and the disk the real protocol needs per Base/Large model.

Then, for the choice of the 8-bit scheme: the error and size of other 8-bit schemes, simulated in
memory (symmetric int8 or min/max uint8, one range per utterance and layer or per frame and
layer), and both storages on real upstream features (s3prl FBANK, the packaged CREPE tiny, GE2E
and Silero VAD weights, the demo's random HuBERT and wav2vec 2.0) of eSpeak NG speech.
Prints Markdown; the numbers in BENCHMARKS.md come from it.

    .venv/bin/python bench/bench_store.py            # defaults, ~5 min on 2 loaded cores
"""

from __future__ import annotations

import argparse
import platform
import sys
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from minisuperb.runtime import set_threads
from minisuperb.store import FeatureStore, StoreWriter
from minisuperb.store.layout import (
    CODECS,
    DEFAULT_CODEC,
    CHANNELS,
    SCALES,
    SHARD_FRAMES,
    STORAGES,
    bytes_on_disk,
    dequantise,
    quantise,
)

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
SIGNALS = ["random", "smooth", "outliers"]
OUTLIER_CHANNELS = [7, 300, 500]
OUTLIER_OFFSETS = np.array([80.0, -120.0, 40.0], np.float32)
REAL_MODELS = {
    "fbank": {"loader": "s3prl", "name": "fbank"},
    "crepe_tiny": {"loader": "pretrained", "name": "crepe_tiny"},
    "ge2e": {"loader": "pretrained", "name": "ge2e"},
    "silero_vad": {"loader": "pretrained", "name": "silero_vad"},
    "demo hubert": {"demo_model": "hubert"},
    "demo wav2vec2": {"demo_model": "wav2vec2"},
}
SENTENCES = [
    "the quick brown fox jumps over the lazy dog near the river bank",
    "she sells sea shells by the sea shore every single morning",
    "a journey of a thousand miles begins with one small step forward",
    "please call stella and ask her to bring these things with her from the store",
    "six spoons of fresh snow peas five thick slabs of blue cheese and maybe a snack",
    "we also need a small plastic snake and a big toy frog for the kids",
    "she can scoop these things into three red bags and we will go meet her",
    "on wednesday at the station the train left seven minutes late",
]
VOICES = ["en+m1", "en+f3", "en+m3", "en+f2", "en+m5", "en+f4", "en+m2", "en+f1"]


def synthetic_utterances(seconds: float, utterance_seconds: float, layers: int, dim: int,
                         fps: float, signal: str, seed: int = 0):
    """Yield (id, float32 [frames, layers, dim]) until `seconds` of audio are covered.

    `random`: i.i.d. Gaussian with per-layer scales: the worst case for compression.
    `smooth`: an AR(1) process over time (correlation 0.95) with log-normal per-channel scales
    and offsets, closer to real hidden states, which drift slowly and have outlier channels.
    `outliers`: i.i.d. unit Gaussian but for three channels per layer that sit at +80, -120 and
    +40 (spread 2): the "massive activations" of large transformers' residual streams.
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
        elif signal == "outliers":
            features = noise
            features[:, :, OUTLIER_CHANNELS] = OUTLIER_OFFSETS + 2 * noise[:, :, OUTLIER_CHANNELS]
        else:
            features = noise * np.linspace(0.5, 4, layers, dtype=np.float32)[None, :, None]
        yield f"utt{index:05d}", features
        covered += duration
        index += 1


def layer_norm(x: np.ndarray) -> np.ndarray:
    """The featurizer's per-frame layer-norm without affine parameters (torch's eps)."""
    mean = x.mean(-1, keepdims=True)
    centred = x - mean
    return centred / np.sqrt((centred * centred).mean(-1, keepdims=True) + 1e-5)


class Errors:
    """Error of stored features against the float32 originals, over all frames: per layer, the
    RMS error relative to the layer's RMS, the largest absolute error relative to the layer's
    RMS, and the RMS error after the featurizer's per-frame layer-norm (unit-variance output, so
    already relative: what a multi-layer head sees); per channel (layer x dim), the RMS error
    relative to the channel's standard deviation over frames (constant channels left out), of
    which the 99th percentile: a channel that varies little next to its frame's range loses
    most of its variation to a per-frame range."""

    def __init__(self, layers: int, dim: int):
        self.squared_error = np.zeros((layers, dim))
        self.sum = np.zeros((layers, dim))
        self.squared_value = np.zeros((layers, dim))
        self.max_error = np.zeros(layers)
        self.normed_squared_error = np.zeros(layers)
        self.frames = 0

    def add(self, got: np.ndarray, expected: np.ndarray) -> None:
        error = got.astype(np.float64) - expected
        expected = expected.astype(np.float64)
        self.squared_error += (error * error).sum(0)
        self.sum += expected.sum(0)
        self.squared_value += (expected * expected).sum(0)
        self.max_error = np.maximum(self.max_error, np.abs(error).max((0, 2)))
        normed = layer_norm(got) - layer_norm(expected.astype(np.float32))
        self.normed_squared_error += (normed.astype(np.float64) ** 2).sum((0, 2))
        self.frames += len(expected)

    def summary(self) -> dict:
        dim = self.sum.shape[1]
        rms = np.sqrt(self.squared_value.sum(1) / (self.frames * dim))
        rms = np.where(rms > 0, rms, 1.0)
        relative = np.sqrt(self.squared_error.sum(1) / (self.frames * dim)) / rms
        mean = self.sum / self.frames
        std = np.sqrt(np.maximum(self.squared_value / self.frames - mean * mean, 0))
        varying = std > 1e-6 * max(std.max(), 1e-30)
        channel = np.sqrt(self.squared_error[varying] / self.frames) / std[varying]
        return {"rel_rms": relative.max(), "rel_rms_mean": relative.mean(),
                "max_rel": (self.max_error / rms).max(),
                "normed_rms": np.sqrt(self.normed_squared_error / (self.frames * dim)).max(),
                "channel_p99": np.percentile(channel, 99) if channel.size else 0.0,
                "layers": len(rms)}


def error_cells(errors: dict) -> str:
    normed = f"{errors['normed_rms']:.2e}" if errors["layers"] > 1 else "n/a (1 layer)"
    return (f"{errors['rel_rms']:.2e} | {errors['rel_rms_mean']:.2e} | {errors['max_rel']:.2e} | "
            f"{normed} | {errors['channel_p99']:.2e}")


ERROR_HEADER = ("rel. RMS error, worst layer | rel. RMS error, layer mean | max abs error / "
                "layer RMS | RMS error after layer-norm, worst layer | channel error / channel "
                "std, 99th pct")
ERROR_ALIGN = "---:|" * 5


def _symmetric(rows: np.ndarray, axes: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scale = np.abs(rows).max(axis=axes, keepdims=True) / 127
    codes = np.rint(rows / np.where(scale > 0, scale, 1)).astype(np.int8)
    return codes, scale.astype(np.float32), codes * scale


def _min_max(rows: np.ndarray, axes: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    low, high = rows.min(axis=axes, keepdims=True), rows.max(axis=axes, keepdims=True)
    step = (high - low) / 255
    codes = np.rint((rows - low) / np.where(step > 0, step, 1)).astype(np.uint8)
    return codes, np.concatenate([low, step], -1), codes * step + low


def _store_uint8(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The store's own code, with each utterance as its own shard(s) of frames."""
    parts = [quantise(rows[start : start + SHARD_FRAMES])
             for start in range(0, len(rows), SHARD_FRAMES)]
    codes = np.concatenate([part[0] for part in parts])
    scales = np.concatenate([part[1] for part in parts])
    channels = np.stack([part[2] for part in parts])
    return (codes, np.concatenate([scales.ravel(), channels.ravel()]),
            dequantise(codes, scales, channels, 0))


# 8-bit schemes simulated in memory: name -> rows -> (codes, scales, values read back). The last
# one is the store's own code (minisuperb.store.layout.quantise), on one utterance at a time
# where the store takes shards of 1024 frames (the store rows above measure the real thing).
SCHEMES = {
    "float16": lambda rows: (rows.astype(np.float16), np.zeros(0, np.float32),
                             rows.astype(np.float16).astype(np.float32)),
    "int8 symmetric, per utterance and layer": lambda rows: _symmetric(rows, (0, 2)),
    "uint8 min/max, per utterance and layer": lambda rows: _min_max(rows, (0, 2)),
    "uint8 min/max, per utterance, layer and channel": lambda rows: _min_max(rows, (0,)),
    "int8 symmetric, per frame and layer": lambda rows: _symmetric(rows, (2,)),
    "uint8 min/max, per frame and layer": lambda rows: _min_max(rows, (2,)),
    "uint8, channel then frame ranges (storage: uint8)": _store_uint8,
}


def simulate_schemes(utterances, layers: int, dim: int) -> list[dict]:
    """Each scheme's error, and its bytes: the codes compressed as the store does (zstd, 64-frame
    chunks) plus the scales uncompressed, relative to float32."""
    import numcodecs

    compressor = numcodecs.Blosc("zstd", 3, numcodecs.Blosc.SHUFFLE)
    rows_by_scheme = {name: {"errors": Errors(layers, dim), "bytes": 0} for name in SCHEMES}
    float32_bytes = 0
    for _, features in utterances:
        float32_bytes += features.nbytes
        for name, scheme in SCHEMES.items():
            codes, scales, values = scheme(features)
            rows_by_scheme[name]["errors"].add(values.astype(np.float32), features)
            for start in range(0, len(codes), 64):
                chunk = np.ascontiguousarray(codes[start : start + 64])
                rows_by_scheme[name]["bytes"] += len(compressor.encode(chunk))
            rows_by_scheme[name]["bytes"] += scales.nbytes
    return [{"scheme": name, "vs_float32": row["bytes"] / float32_bytes,
             **row["errors"].summary()} for name, row in rows_by_scheme.items()]


def print_schemes(title: str, rows: list[dict]) -> None:
    print(f"\n{title}\n")
    print(f"| scheme | bytes / float32 (est.) | {ERROR_HEADER} |")
    print("|---|---:|" + ERROR_ALIGN)
    for row in rows:
        print(f"| {row['scheme']} | {row['vs_float32']:.3f} | {error_cells(row)} |")


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


def bench_store(utterances, workdir: Path, storage: str, codec: str, reads: int, layers: int,
                dim: int, fps: float, rng, originals=None, pooled: bool = False) -> dict:
    """Write, time random reads, then (with `originals`, the same utterances again) read
    everything back and measure the error."""
    path = workdir / f"store-{storage}-{codec}.zarr"
    write_s = 0.0
    with StoreWriter(path, "synthetic", "bench", layers, dim, fps, pooled=pooled, codec=codec,
                     storage=storage) as writer:
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
    row = {"method": f"store: {storage}, {codec}", "storage": storage, "codec": codec,
           "bytes": attrs["bytes_on_disk"], "frames": attrs["splits"]["train"]["frames"],
           "write_fps": attrs["splits"]["train"]["frames"] / write_s,
           "values_bytes": bytes_on_disk(path / "train" / "features"),
           "scales_bytes": bytes_on_disk(path / "train" / SCALES) if storage == "uint8" else 0,
           "channels_bytes": bytes_on_disk(path / "train" / CHANNELS) if storage == "uint8" else 0,
           **read.rates(read_frames, "read")}
    if originals is not None:
        errors = Errors(layers, dim)
        for utt_id, features in originals:
            expected = features.mean(0, keepdims=True) if pooled else features
            errors.add(store.get("train", utt_id), expected)
        row["errors"] = errors.summary()
    shutil.rmtree(path)
    return row


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


def protocol_disk_table(value_ratio: float, value_bytes: int = 2, scales_ratio: float = 0.0,
                        channels_ratio: float = 0.0) -> str:
    """GiB one model's four stores need under the MiniSUPERB protocol, from the measured
    compressed/raw ratio of the values (`value_bytes` each) and, for uint8, of the frame scales
    (8 bytes per frame and layer) and the channel scales (8 bytes per channel per shard of
    SHARD_FRAMES frames), next to the reference method (float32, SID pooled too)."""
    lines = ["| model | " + " | ".join(PROTOCOL_FRAMES_AT_50FPS) + " | total | reference (float32) |",
             "|---|" + "---:|" * (len(PROTOCOL_FRAMES_AT_50FPS) + 2)]
    for name, (layers, dim) in MODEL_SHAPES.items():
        frame_bytes = (layers * dim * value_bytes * value_ratio + layers * 8 * scales_ratio
                       + layers * dim * 8 / SHARD_FRAMES * channels_ratio)
        per_task = {task: frames * frame_bytes / GIB
                    for task, frames in PROTOCOL_FRAMES_AT_50FPS.items()}
        reference = sum(PROTOCOL_FRAMES_AT_50FPS.values()) * layers * dim * 4 / GIB
        cells = " | ".join(f"{value:.1f}" for value in per_task.values())
        lines.append(f"| {name} ({layers}x{dim}) | {cells} | {sum(per_task.values()):.1f} | "
                     f"{reference:.1f} |")
    return "\n".join(lines)


def speech(count: int) -> list[np.ndarray]:
    """`count` sentences of eSpeak NG speech (8 voices), 16 kHz float32, with a little noise."""
    from minisuperb.corpora import espeak
    from minisuperb.corpora.audio import resample

    wavs = []
    for index in range(count):
        samples, rate = espeak.synthesize(SENTENCES[index % len(SENTENCES)],
                                          VOICES[index % len(VOICES)], 140 + 7 * (index % 5),
                                          40 + 4 * (index % 6), seed=index)
        wav = resample(samples.astype(np.float32) / 32768, rate, 16_000)
        noise = np.random.default_rng(index).standard_normal(len(wav)).astype(np.float32)
        wavs.append(wav + 0.003 * noise)
    return wavs


def real_features(name: str, wavs: list[np.ndarray], workdir: Path):
    """(upstream, [(id, float32 [frames, layers, dim])]) of one real upstream."""
    from minisuperb.upstreams.registry import load_upstream

    entry = REAL_MODELS[name]
    if "demo_model" in entry:
        from minisuperb.upstreams.demo_models import build_demo_model

        path = build_demo_model(entry["demo_model"], workdir / entry["demo_model"], seed=0,
                                layers=4, dim=256)
        entry = {"loader": "transformers", "path": str(path)}
    upstream = load_upstream(entry)
    utterances = []
    with torch.inference_mode():
        for index, wav in enumerate(wavs):
            layers, frames = upstream(torch.from_numpy(wav)[None], torch.tensor([len(wav)]))
            stacked = torch.stack(layers, dim=2)[0, : int(frames[0])].float().numpy()
            utterances.append((f"utt{index:03d}", np.ascontiguousarray(stacked)))
    return upstream, utterances


def bench_real(names: list[str], count: int, reads: int, workdir: Path) -> None:
    """Both storages (zstd) on real upstream features, against the reference's bytes."""
    wavs = speech(count)
    seconds = sum(len(wav) for wav in wavs) / 16_000
    print(f"\nReal upstream features: {count} eSpeak NG sentences, {seconds:.1f} s of audio "
          f"(bytes per audio hour differ by model: frame rate x layers x dims).\n")
    print(f"| model | layers x dims @ fps | method | vs reference | {ERROR_HEADER} |")
    print("|---|---|---|---:|" + ERROR_ALIGN)
    schemes = {}
    for name in names:
        folder = Path(tempfile.mkdtemp(prefix="real_", dir=workdir))
        try:
            upstream, utterances = real_features(name, wavs, folder)
            shape = (f"{upstream.num_layers} x {upstream.dim} @ {upstream.frame_rate:g}")
            rng = np.random.default_rng(1)
            reference = bench_reference(iter(utterances), folder, reads, rng)
            per_frame = reference["bytes"] / reference["frames"]
            for storage in STORAGES:
                row = bench_store(iter(utterances), folder, storage, DEFAULT_CODEC, reads,
                                  upstream.num_layers, upstream.dim, upstream.frame_rate, rng,
                                  originals=iter(utterances))
                ratio = row["bytes"] / row["frames"] / per_frame
                print(f"| {name} | {shape} | {row['method']} | {ratio:.3f} | "
                      f"{error_cells(row['errors'])} |")
            schemes[name] = simulate_schemes(iter(utterances), upstream.num_layers, upstream.dim)
        except Exception as error:  # a missing package or weight file skips one model
            print(f"| {name} | | skipped: {type(error).__name__}: {error} | | | | | | |")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    for name, rows in schemes.items():
        print_schemes(f"8-bit schemes simulated on `{name}` (in memory):", rows)


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
    parser.add_argument("--signals", nargs="+", default=SIGNALS, choices=SIGNALS)
    parser.add_argument("--codecs", nargs="+", default=list(CODECS), choices=list(CODECS))
    parser.add_argument("--storages", nargs="+", default=list(STORAGES), choices=list(STORAGES))
    parser.add_argument("--real-models", nargs="*", default=list(REAL_MODELS),
                        choices=list(REAL_MODELS), help="real upstreams (none: skip)")
    parser.add_argument("--real-utterances", type=int, default=16)
    parser.add_argument("--no-schemes", action="store_true",
                        help="skip the in-memory comparison of 8-bit schemes")
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
          "read / ASR head (CPU) | read / float16 zstd (CPU) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    sys.stdout.flush()
    ratios, errors, schemes = {}, {}, {}
    for signal in args.signals:
        def utterances():
            return synthetic_utterances(args.seconds, args.utterance_seconds, args.layers,
                                        args.dim, args.fps, signal)
        workdir = Path(tempfile.mkdtemp(prefix="bench_store_", dir=args.workdir))
        try:
            rng = np.random.default_rng(1)
            rows = [bench_reference(utterances(), workdir, args.reads, rng)]
            shutil.rmtree(workdir / "reference")
            for storage in args.storages:
                for codec in args.codecs:
                    # The error once per storage (it does not depend on the codec).
                    measure = codec == DEFAULT_CODEC or (DEFAULT_CODEC not in args.codecs
                                                         and codec == args.codecs[0])
                    rows.append(bench_store(utterances(), workdir, storage, codec, args.reads,
                                            args.layers, args.dim, args.fps, rng,
                                            originals=utterances() if measure else None))
            if not args.no_schemes:
                schemes[signal] = simulate_schemes(utterances(), args.layers, args.dim)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        reference_per_frame = rows[0]["bytes"] / rows[0]["frames"]
        baseline = next((row for row in rows
                         if row["method"] == f"store: float16, {DEFAULT_CODEC}"), None)
        for row in rows:
            per_frame = row["bytes"] / row["frames"]
            per_hour = per_frame * args.fps * 3600 / GIB
            versus = (f"{row['read_fps_cpu'] / baseline['read_fps_cpu']:.2f}x" if baseline
                      else "n/a")
            print(f"| {signal} | {row['method']} | {per_hour:.2f} | "
                  f"{per_frame / reference_per_frame:.3f} | {row['write_fps']:,.0f} | "
                  f"{row['read_fps']:,.0f} | {row['read_fps_cpu']:,.0f} | "
                  f"{row['read_fps'] / asr['asr_fps']:.1f}x | "
                  f"{row['read_fps_cpu'] / asr['asr_fps_cpu']:.1f}x | {versus} |")
            if row.get("codec") == DEFAULT_CODEC:
                raw = row["frames"] * args.layers * args.dim
                shards = -(-row["frames"] // SHARD_FRAMES)
                ratios.setdefault(row["storage"], {})[signal] = (
                    row["values_bytes"] / (raw * np.dtype(row["storage"]).itemsize),
                    row["scales_bytes"] / (row["frames"] * args.layers * 8),
                    row["channels_bytes"] / (shards * args.layers * args.dim * 8))
            if "errors" in row:
                errors[(signal, row["method"])] = row["errors"]
        sys.stdout.flush()
    if errors:
        print(f"\nError against the float32 features (all utterances read back):\n")
        print(f"| signal | method | {ERROR_HEADER} |")
        print("|---|---|" + ERROR_ALIGN)
        for (signal, method), summary in errors.items():
            print(f"| {signal} | {method} | {error_cells(summary)} |")
    for storage, by_signal in ratios.items():
        signal, (ratio, scales_ratio, channels_ratio) = max(by_signal.items(),
                                                            key=lambda item: item[1])
        scales = (f", frame scales {scales_ratio:.3f} and channel scales {channels_ratio:.3f} "
                  f"of raw float32" if storage == "uint8" else "")
        print(f"\nDisk per model for the MiniSUPERB protocol, storage {storage}, GiB "
              f"({DEFAULT_CODEC}: compressed values {ratio:.3f} of raw {storage}{scales}, the "
              f"worst measured, on the `{signal}` signal; SID pooled to one frame per "
              f"utterance):\n")
        print(protocol_disk_table(ratio, np.dtype(storage).itemsize, scales_ratio,
                                  channels_ratio))
    for signal, rows in schemes.items():
        print_schemes(f"8-bit schemes simulated on the `{signal}` signal (in memory):", rows)
    sys.stdout.flush()
    if args.real_models:
        workdir = Path(tempfile.mkdtemp(prefix="bench_store_real_", dir=args.workdir))
        try:
            bench_real(args.real_models, args.real_utterances, args.reads, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""GPU check: extraction and training rates of a Base-shaped model on one device, in one run.

Run by bench/gpu_check.sh on a machine with a CUDA GPU and the project installed; it also runs
on a CPU at smaller sizes (`--device cpu --scale 0.002`, or the test's tiny settings), so that CI
keeps it working. Everything is synthetic: a randomly initialised wav2vec 2.0 Base shape
(transformers `Wav2Vec2Model(Wav2Vec2Config())`, no download; `--shape tiny`: the demo zoo's
HuBERT), speech-like audio (bench/bench_extract.py) and random Base-shaped feature stores
(bench/bench_offline.py). It measures, each bounded in time so that the measurements stay within
`--budget-s` (default 360 s; with building the synthetic stores, under 8 minutes):

1. extraction throughput, audio seconds per second, on `--scale` x the MiniSUPERB ASR
   extraction audio (20.8 h: 10 h train + dev-clean + test-clean; 12 s utterances +-20%):
   - reference: bench_extract's reference method (MiniSUPERB stage 1: batch 1, float32,
     `no_grad`, one `torch.save` of all layers per utterance) on this device;
   - the same loop under autocast (float16 on a GPU, bfloat16 on a CPU);
   - our length-bucketed batches in float32 (the extraction's batching without the store);
   - ours end to end (`minisuperb.upstreams.extract.extract`: float16 autocast on a GPU, float32
     on a CPU; padding probe, MAC counting and the Zarr store included);
2. feature error of autocast against float32: relative Frobenius norm per layer, one utterance;
3. training steps per second of each task head from a store (the `minisuperb` protocol's
   settings and batch sizes, utterances of the real corpora's mean lengths x `--length-scale`),
   with `--workers` DataLoader workers as a training job has (config/minisuperb.yaml);
4. store read rate (frames/s of `FeatureStore.get`, and items/s of the task's items: the
   read plus audio loading and STFT targets for SE/SS), one process, against what the head
   consumes;
5. peak memory: GPU (`torch.cuda.max_memory_allocated`) per method and task, or the process's
   peak RSS on a CPU.
From 1 and 3 it also estimates the on-the-fly speed-up per task on this device (the upstream's
forward on the step's audio at the measured extraction rate, plus the head's step).

Writes `<out>/gpu_check.json` and `<out>/gpu_check.md`.

    bench/gpu_check.sh                                  # GPU, defaults
    bench/gpu_check.sh --device cpu --scale 0.002 --threads 1 --workers 0   # CPU, smaller (~5 min)

A section that fails (e.g. a kernel missing on the device) is reported in the JSON (`errors`)
and the Markdown, and the others still run; the exit status is 1 then.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_offline  # noqa: E402
from bench_extract import SAMPLE_RATE, build_model, write_corpus  # noqa: E402

from minisuperb.corpora import audio  # noqa: E402
from minisuperb.downstream.loop import Trainer  # noqa: E402
from minisuperb.downstream.protocols import resolve_settings  # noqa: E402
from minisuperb.runtime import resolve_device, set_threads  # noqa: E402
from minisuperb.upstreams import load_upstream  # noqa: E402
from minisuperb.upstreams.extract import extract, read_utterances  # noqa: E402
from minisuperb.upstreams.runner import DEFAULT_BATCH_SECONDS, Runner, load_batch, plan_batches  # noqa: E402

ASR_EXTRACTION_HOURS = 20.8  # MiniSUPERB ASR: 10 h train + dev-clean 5.4 h + test-clean 5.4 h
TINY_SHAPE = (3, 64, 50.0)  # the demo zoo's HuBERT with 2 layers: 3 hidden states of 64 dims
JSON_NAME, MARKDOWN_NAME = "gpu_check.json", "gpu_check.md"
CPU_TEST_BATCH_SECONDS = 16.0  # the CPU default before extraction ran one utterance at a time


def failure(error: BaseException) -> str:
    """An error as one line for the report, its traceback on stderr."""
    import traceback

    traceback.print_exception(error, file=sys.stderr)
    return f"{type(error).__name__}: {error}".splitlines()[0][:300]


class Budget:
    """Seconds left of the run's budget; each section gets a share of what is left."""

    def __init__(self, seconds: float):
        self.deadline = time.perf_counter() + seconds

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def share(self, fraction: float, floor: float = 1.0) -> float:
        return max(floor, fraction * self.left())


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> dict:
    """GPU: the allocator's peak since the last reset; CPU: the process's peak RSS so far."""
    if device.type == "cuda":
        return {"kind": "cuda_max_memory_allocated", "bytes": int(torch.cuda.max_memory_allocated(device))}
    return {"kind": "cpu_max_rss", "bytes": int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024}


def autocast_dtype(device: torch.device) -> torch.dtype:
    return torch.float16 if device.type == "cuda" else torch.bfloat16


# --- 1. extraction -------------------------------------------------------------------------------


def reference_loop(entry: dict, records: list[dict], out: Path, device: torch.device,
                   autocast: torch.dtype | None = None) -> dict:
    """bench_extract.reference_method on `device`: batch 1, float32 (or `autocast`), no_grad, one
    torch.save of all layers per utterance; model loading included, as there."""
    synchronize(device)
    started = time.perf_counter()
    upstream = load_upstream(entry).to(device)
    out.mkdir(parents=True)
    for record in records:
        wav = torch.from_numpy(audio.load(record["path"]))[None].to(device)
        with torch.no_grad(), torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
            layers, frames = upstream(wav, torch.tensor([wav.shape[1]], device=device))
        torch.save(tuple(layer[0, : frames[0]].float().cpu() for layer in layers), out / f"{record['id']}.ckpt")
    synchronize(device)
    wall = time.perf_counter() - started
    return {"wall_s": wall, "bytes": sum(f.stat().st_size for f in out.iterdir())}


def batched_float32(entry: dict, manifest_dir: Path, subsets: Path, device: torch.device, batch_seconds: float) -> dict:
    """Our length-bucketed batches in float32 (on a GPU too, where `extract` uses float16),
    features brought back to the host as `extract` does, no store; model loading included."""
    synchronize(device)
    started = time.perf_counter()
    upstream = load_upstream(entry).to(device)
    runner = Runner(upstream, device, "float32")
    runner.precision, runner.dtype = "float32", torch.float32  # a GPU runner would autocast
    utterances = read_utterances(manifest_dir, subsets)
    for batch in plan_batches(utterances, batch_seconds):
        loaded = load_batch(batch, upstream.min_samples)
        runner.features(loaded.wavs, loaded.lengths)
    synchronize(device)
    return {"wall_s": time.perf_counter() - started, "bytes": 0}


def ours(entry: dict, manifest_dir: Path, subsets: Path, out: Path, device: torch.device, batch_seconds: float) -> dict:
    synchronize(device)
    started = time.perf_counter()
    # A view of its own under `out`: no other store there to copy from (minisuperb.store.reuse).
    summary = extract("bench", entry, "asr", manifest_dir, subsets, out / "asr" / "seed0.zarr", out / "asr" / "seed0.json",
                      batch_seconds=batch_seconds, device=str(device))
    synchronize(device)
    return {"wall_s": time.perf_counter() - started, "bytes": summary["bytes_on_disk"],
            "precision": summary.get("precision"), "batching": summary.get("batching"),
            "macs_per_second": summary.get("macs_per_second")}


def check_extraction(root: Path, entry: dict, device: torch.device, args, budget: Budget) -> dict:
    minutes = args.scale * ASR_EXTRACTION_HOURS * 60
    mean = bench_offline.CORPUS_SECONDS["asr"] * args.length_scale
    spread = bench_offline.SPREAD
    manifest_dir, subsets, records = write_corpus(root / "data", minutes, 0, mean * (1 - spread), mean * (1 + spread))
    audio_seconds = sum(r["num_samples"] for r in records) / SAMPLE_RATE
    # The batched methods need a budget; on a CPU (this script's tests) the default is none.
    batch_seconds = args.batch_seconds or DEFAULT_BATCH_SECONDS[device.type] or CPU_TEST_BATCH_SECONDS
    half = autocast_dtype(device)
    methods = {
        "reference": ("reference: batch 1, float32, torch.save", lambda out: reference_loop(entry, records, out, device)),
        f"batch1_{str(half).removeprefix('torch.')}": (
            f"reference loop under {str(half).removeprefix('torch.')} autocast",
            lambda out: reference_loop(entry, records, out, device, autocast=half)),
        "batched_float32": (f"our batches ({batch_seconds:g} s), float32, no store",
                            lambda out: batched_float32(entry, manifest_dir, subsets, device, batch_seconds)),
        "ours": (f"ours end to end ({batch_seconds:g} s batches, store)",
                 lambda out: ours(entry, manifest_dir, subsets, out, device, batch_seconds)),
    }
    results = {}
    for name, (label, method) in methods.items():
        if budget.left() < 5 and results:
            results[name] = {"label": label, "skipped": "out of time"}
            continue
        reset_peak(device)
        try:
            result = method(root / "extract" / name)
        except Exception as error:  # noqa: BLE001  (a GPU run's time is scarce: report and go on)
            results[name] = {"label": label, "error": failure(error)}
            continue
        finally:
            shutil.rmtree(root / "extract" / name, ignore_errors=True)
        results[name] = {"label": label, **result, "audio_seconds_per_second": audio_seconds / result["wall_s"],
                         "peak_memory": peak_memory(device)}
        print(f"  extraction {name}: {results[name]['audio_seconds_per_second']:.1f} audio s/s", file=sys.stderr, flush=True)
    reference = results["reference"].get("audio_seconds_per_second")
    for result in results.values():
        if "audio_seconds_per_second" in result and reference:
            result["vs_reference"] = result["audio_seconds_per_second"] / reference
    return {"utterances": len(records), "audio_seconds": audio_seconds, "batch_seconds": batch_seconds,
            "autocast_dtype": str(half).removeprefix("torch."), "methods": results}


# --- 2. feature error ----------------------------------------------------------------------------


def check_feature_error(entry: dict, device: torch.device, seconds: float) -> dict:
    """Relative Frobenius norm ||autocast - float32|| / ||float32|| per layer, one utterance."""
    from bench_extract import speech_like

    upstream = load_upstream(entry).to(device)
    wav = torch.from_numpy(speech_like(seconds, np.random.default_rng(1)))[None].to(device)
    lengths = torch.tensor([wav.shape[1]], device=device)
    half = autocast_dtype(device)
    with torch.no_grad():
        exact, _ = upstream(wav, lengths)
        with torch.autocast(device.type, dtype=half):
            rounded, _ = upstream(wav, lengths)
    errors = [float(torch.linalg.norm(r.float() - e) / torch.linalg.norm(e)) for r, e in zip(rounded, exact)]
    peak = max(float((r.float() - e).abs().max() / e.abs().max()) for r, e in zip(rounded, exact))
    return {"autocast_dtype": str(half).removeprefix("torch."), "seconds": seconds,
            "relative_error_per_layer": errors, "max": max(errors), "mean": sum(errors) / len(errors),
            "max_abs_relative_to_layer_max": peak}


# --- 3 and 4. training from a store, store reads --------------------------------------------------


def check_task(root: Path, task: str, device: torch.device, shape, args, seconds_budget: float) -> dict:
    settings = resolve_settings("minisuperb", task)
    per_step = bench_offline.utterances_per_step(settings)
    mean = bench_offline.CORPUS_SECONDS[task] * args.length_scale
    store, records = bench_offline.synthetic_store(root / task, task, per_step * args.distinct_batches, mean, shape=shape)
    trainer = Trainer(bench_offline.run_spec(task, settings, root / task / "out", str(device), num_workers=args.workers),
                      store, records)
    batches = bench_offline.training_iterator(trainer)
    started = time.perf_counter()
    for _ in range(args.warmup):
        bench_offline.timed_step(trainer, batches)
    reset_peak(device)
    steps = []
    while len(steps) < args.train_steps and (not steps or time.perf_counter() - started < seconds_budget):
        steps.append(bench_offline.timed_step(trainer, batches))
    wall = sum(step["wall_s"] for step in steps)
    frames = sum(step["frames"] for step in steps)
    audio_s = sum(step["audio_s"] for step in steps)
    training = {
        "steps": len(steps), "s_per_step": wall / len(steps), "steps_per_second": len(steps) / wall,
        "frames_per_second": frames / wall, "utterances_per_second": len(steps) * per_step / wall,
        "audio_seconds_per_step": audio_s / len(steps),
        "waiting_for_batches_share": sum(step["data_wall_s"] for step in steps) / wall,
        "padding": sum(step["padded_frames"] for step in steps) / frames - 1,
        "peak_memory": peak_memory(device),
        "settings": {key: settings[key] for key in ("batch_size", "accumulate", "steps")},
    }
    training["protocol_hours"] = settings["steps"] * training["s_per_step"] / 3600
    del trainer, batches
    return {"training": training, "store_read": check_reads(store, records, task, settings, training, seconds_budget / 3)}


def check_reads(store, records: dict, task: str, settings: dict, training: dict, seconds_budget: float) -> dict:
    """One process: FeatureStore.get frames/s, and the task's items/s (read + make_item)."""
    from minisuperb.downstream.data import TaskItems
    from minisuperb.downstream.tasks import TASKS

    train = records["train"]
    started, frames, reads = time.perf_counter(), 0, 0
    for record in train:
        frames += store.get("train", record["id"]).shape[0]
        reads += 1
        if time.perf_counter() - started > seconds_budget:
            break
    read_s = time.perf_counter() - started
    task_obj = TASKS[task](settings, dict(store.attrs))
    task_obj.prepare(train)
    items = TaskItems(task_obj, store, "train", train)
    started, made = time.perf_counter(), 0
    for index in range(len(items)):
        items[index]
        made += 1
        if time.perf_counter() - started > seconds_budget:
            break
    items_s = time.perf_counter() - started
    stored_frames_per_utterance = frames / reads
    read_fps = frames / read_s
    # What the head consumes, in stored frames (SE's repeated frames and SID's pooling aside).
    consumed_fps = training["utterances_per_second"] * stored_frames_per_utterance
    return {"frames_per_second": read_fps, "items_per_second": made / items_s,
            "head_consumes_frames_per_second": consumed_fps,
            "head_consumes_items_per_second": training["utterances_per_second"],
            "read_over_consumption": read_fps / consumed_fps,
            "items_over_consumption": (made / items_s) / training["utterances_per_second"]}


# --- the report ----------------------------------------------------------------------------------


def environment(device: torch.device) -> dict:
    env = {"python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
           "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
           "threads": torch.get_num_threads(), "device": str(device)}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env |= {"gpu": props.name, "gpu_memory_bytes": int(props.total_memory), "cuda": torch.version.cuda,
                "cudnn": torch.backends.cudnn.version()}
        try:
            env["nvidia_smi"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return env


def on_the_fly_estimates(extraction: dict, tasks: dict) -> dict:
    """Per task: (step audio / upstream rate + offline step) / offline step, for the upstream run
    at the reference rate (batch 1, float32) and at our batched float32 rate."""
    estimates = {}
    for task, result in tasks.items():
        training = result["training"]
        row = {}
        for method in ("reference", "batched_float32"):
            rate = extraction["methods"].get(method, {}).get("audio_seconds_per_second")
            if rate:
                upstream_s = training["audio_seconds_per_step"] / rate
                row[f"speedup_vs_{method}"] = (upstream_s + training["s_per_step"]) / training["s_per_step"]
        estimates[task] = row
    return estimates


def markdown(report: dict) -> str:
    env, extraction = report["environment"], report["extraction"]
    lines = [f"# GPU check: {env.get('gpu', env['cpu'])} ({env['device']}), torch {env['torch']}",
             "", f"{report['date']}, {report['elapsed_s']:.0f} s, command `{report['command']}`", "",
             f"## Extraction: {extraction['utterances']} utterances, {extraction['audio_seconds']:.0f} s of audio", "",
             "| method | audio s / s | vs reference | bytes | peak memory (MiB) |", "|---|---:|---:|---:|---:|"]
    for name, m in extraction["methods"].items():
        if "skipped" in m or "error" in m:
            lines.append(f"| {m['label']} | {'skipped: ' + m['skipped'] if 'skipped' in m else 'failed: ' + m['error']} | | | |")
            continue
        lines.append(f"| {m['label']} | {m['audio_seconds_per_second']:.1f} | {m['vs_reference']:.2f}x "
                     f"| {m['bytes'] / 1e6:.1f} MB | {m['peak_memory']['bytes'] / 2**20:.0f} |")
    error = report["feature_error"]
    if "error" in error:
        lines += ["", f"Feature error of autocast against float32: failed: {error['error']}"]
    else:
        lines += ["", f"Feature error of {error['autocast_dtype']} autocast against float32 ({error['seconds']:.1f} s "
                  f"utterance): relative Frobenius norm max {error['max']:.2e}, mean {error['mean']:.2e} over layers; "
                  f"largest value error relative to the layer's largest value {error['max_abs_relative_to_layer_max']:.2e}."]
    lines += ["", "## Training from a store and store reads", "",
              "| task | batch | steps / s | s / step | frames / s | waiting for batches | protocol steps | hours for the protocol "
              "| store read / consumption | items / consumption | on-the-fly speed-up (batch 1 fp32, batched fp32) | peak memory (MiB) |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for task, result in report["tasks"].items():
        if "error" in result:
            lines.append(f"| {task} | failed: {result['error']} |" + " |" * 10)
            continue
        t, r, s = result["training"], result["store_read"], result["training"]["settings"]
        otf = report["on_the_fly_estimate"].get(task, {})
        speedups = ", ".join(f"{otf[key]:.1f}x" for key in ("speedup_vs_reference", "speedup_vs_batched_float32") if key in otf)
        batch = f"{s['batch_size']}" + (f" x {s['accumulate']}" if s["accumulate"] > 1 else "")
        lines.append(f"| {task} | {batch} | {t['steps_per_second']:.2f} | {t['s_per_step']:.3f} | {t['frames_per_second']:,.0f} "
                     f"| {t['waiting_for_batches_share']:.0%} | {s['steps']:,} | {t['protocol_hours']:.2f} "
                     f"| {r['read_over_consumption']:.1f}x | {r['items_over_consumption']:.1f}x | {speedups} "
                     f"| {t['peak_memory']['bytes'] / 2**20:.0f} |")
    lines += ["", f"Peak memory over the run: {report['peak_memory']['bytes'] / 2**20:.0f} MiB ({report['peak_memory']['kind']}).", ""]
    if report["errors"]:
        lines += ["Failed:", "", *(f"- {error}" for error in report["errors"]), ""]
    return "\n".join(lines)


def errors(report: dict) -> list[str]:
    """Every section that failed, as "where: error"."""
    found = [f"extraction {name}: {m['error']}" for name, m in report["extraction"]["methods"].items() if "error" in m]
    if "error" in report["feature_error"]:
        found.append(f"feature error: {report['feature_error']['error']}")
    found += [f"training {task}: {r['error']}" for task, r in report["tasks"].items() if "error" in r]
    return found


def finite_numbers(value) -> bool:
    """Every number in a JSON-like value is finite (the test checks the report with it)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite_numbers(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(finite_numbers(v) for v in value)
    return True


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cuda, cuda:N or cpu")
    parser.add_argument("--scale", type=float, default=0.02,
                        help="extraction audio as a fraction of MiniSUPERB's ASR extraction (20.8 h); 0.02 = 25 min")
    parser.add_argument("--length-scale", type=float, default=1.0,
                        help="utterance lengths x this (1 = the real corpora's means: ASR 12 s, SID 8, SE 3, SS 5)")
    parser.add_argument("--shape", choices=["base", "tiny"], default="base", help="upstream and store shape")
    parser.add_argument("--tasks", nargs="+", choices=bench_offline.TASKS, default=list(bench_offline.TASKS))
    parser.add_argument("--train-steps", type=int, default=30, help="timed training steps per task (at most)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed training steps per task first")
    parser.add_argument("--distinct-batches", type=int, default=4, help="store size: this x utterances per step")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of a training job")
    parser.add_argument("--batch-seconds", type=float, default=None, help="our extraction batches (default: the device's)")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--budget-s", type=float, default=360.0,
                        help="time budget of the measurements (store building and model loading come on top)")
    parser.add_argument("--out", type=Path, default=Path("results/gpu_check"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    budget = Budget(args.budget_s)
    set_threads(args.threads)
    device = torch.device(resolve_device(args.device))
    shape = bench_offline.BASE_SHAPE if args.shape == "base" else TINY_SHAPE
    report = {"command": " ".join(["bench/gpu_check.sh", *(argv if argv is not None else sys.argv[1:])]),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "environment": environment(device),
              "sizes": {"scale": args.scale, "length_scale": args.length_scale, "shape": args.shape,
                        "store_shape": {"layers": shape[0], "dim": shape[1], "frame_rate": shape[2]},
                        "train_steps": args.train_steps, "workers": args.workers}}
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        root = Path(tmp)
        layers = 12 if args.shape == "base" else 2
        entry = {"loader": "transformers", "path": str(build_model(root / "model", args.shape, layers, 0))}
        report["extraction"] = check_extraction(root, entry, device, args, budget)
        try:
            report["feature_error"] = check_feature_error(entry, device, 10.0 * args.length_scale)
        except Exception as error:  # noqa: BLE001
            report["feature_error"] = {"error": failure(error)}
        report["tasks"] = {}
        for index, task in enumerate(args.tasks):
            seconds = budget.share(1 / (len(args.tasks) - index) * 0.8)
            try:
                report["tasks"][task] = check_task(root, task, device, shape, args, seconds)
            except Exception as error:  # noqa: BLE001
                report["tasks"][task] = {"error": failure(error)}
                continue
            print(f"  training {task}: {report['tasks'][task]['training']['steps_per_second']:.2f} steps/s",
                  file=sys.stderr, flush=True)
    ok_tasks = {task: result for task, result in report["tasks"].items() if "error" not in result}
    report["on_the_fly_estimate"] = on_the_fly_estimates(report["extraction"], ok_tasks)
    peaks = [m["peak_memory"]["bytes"] for m in report["extraction"]["methods"].values() if "peak_memory" in m]
    peaks += [t["training"]["peak_memory"]["bytes"] for t in ok_tasks.values()]
    report["peak_memory"] = {"kind": peak_memory(device)["kind"], "bytes": max(peaks, default=0)}
    report["errors"] = errors(report)
    report["elapsed_s"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / JSON_NAME).write_text(json.dumps(report, indent=2) + "\n")
    (args.out / MARKDOWN_NAME).write_text(markdown(report))
    print(markdown(report))
    return report


if __name__ == "__main__":
    sys.exit(1 if main()["errors"] else 0)

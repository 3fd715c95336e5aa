"""Project the device-hours of a whole evaluation of one model: MiniSUPERB and full SUPERB, Base
and Large, from a JSON of measured (or, where marked, assumed) rates.

Method (BENCHMARKS.md, "Cost of a whole evaluation per model", writes it out with the numbers):
- Data per task and split: hours and utterances of the MiniSUPERB subsets (config/minisuperb.yaml
  `sampling.paper`) and of the full datasets (config/schema/report.schema.yaml `superb_protocol`,
  with its sources), or the data stage's `data/<task>/stats.json` when `--stats-dir` is given
  (MiniSUPERB: subset `paper/seed42`; SUPERB: the manifest, i.e. every utterance).
- Settings per task: `minisuperb.downstream.protocols.resolve_settings` of the `minisuperb` and
  `superb` presets: steps, batch x accumulation, dev evaluations (steps / eval_every, plus the
  test once), head sizes.
- MACs: upstream MACs per audio second (`rates.upstream_macs_per_second`, counted with
  `minisuperb.upstreams.macs` on random Base and Large shapes at 12 s); head + featurizer forward
  MACs per frame counted with thop by `minisuperb.downstream.macs` on the real heads of each
  preset, built by the trainer on a tiny synthetic store of each shape (Base 13 x 768, Large 25 x
  1024, both 50 Hz); frames per second: 50 (SE under `minisuperb`: 100, its STFT hop is 10 ms).
- Our workflow: extraction once (all subset hours / the extraction rate) + training (steps x
  seconds per step) + evaluation (every dev pass and the test: frames x forward time per frame).
  Seconds per training step = 3 x head MACs per step / the task's effective training rate
  (MACs per second, measured as MACs per step / seconds per step of the MiniSUPERB head on a
  Base store: bench_offline.py on CPU, gpu_check.py on a GPU), but not below the time to read
  the step's frames from the store (`store_read_frames_per_second` per loader worker x
  `loader_workers`; frames of a Large store are 2.56x the bytes and read that much slower).
  Forward time per frame (evaluation) = a third of the training time per frame.
- On the fly (s3prl: the frozen upstream runs on every training batch and every evaluation
  pass): the same plus, per training step, the step's audio / the on-the-fly upstream rate, and
  per evaluation pass, its audio / that rate; no extraction. SID on the fly crops to 8 s
  (s3prl's voxceleb1 `max_timestep`), offline it trains on the pooled store.
- Large extraction and on-the-fly rates = the Base rates x Base MACs / Large MACs unless the
  rates JSON gives them (same efficiency per MAC: an assumption).
Every rate carries a `source`; those starting with "ASSUMED" are not measured and the tables
mark the rows built from them.

    .venv/bin/python bench/project_cost.py --rates bench/cost_rates_a100_assumed.json
    .venv/bin/python bench/project_cost.py --offline-json offline.json   # this CPU, measured
    .venv/bin/python bench/project_cost.py --gpu-check results/gpu_check/gpu_check.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

TASKS = ("asr", "sid", "se", "ss")
PROTOCOLS = ("minisuperb", "superb")
SHAPES = {"base": (13, 768, 50.0), "large": (25, 1024, 50.0)}
TRAIN_MACS_PER_FORWARD = 3  # minisuperb.downstream.macs.TRAIN_MACS_PER_FORWARD
SID_CROP_SECONDS = 8.0  # s3prl voxceleb1: random 8 s crops in training, on the fly

# Hours and utterances per split. Full datasets: config/schema/report.schema.yaml superb_protocol
# (LibriSpeech train-clean-100 / dev-clean / test-clean; VoxCeleb1 iden split, mean 8.2 s;
# VoiceBank-DEMAND without the 2 dev speakers; Libri2Mix train-100, dev_1000, test; Libri2Mix's
# published hours are an upper bound for the `min` mixtures the config uses). MiniSUPERB: the
# paper subsets (config/minisuperb.yaml sampling.paper) at the same mean lengths, the test sets full.
DATA = {
    "superb": {
        "asr": {"train": (100.6, 28539), "dev": (5.4, 2703), "test": (5.4, 2620)},
        "sid": {"train": (315.2, 138361), "dev": (15.7, 6904), "test": (18.8, 8251)},
        "se": {"train": (8.7, 10745), "dev": (0.7, 827), "test": (0.6, 824)},
        "ss": {"train": (58.0, 13900), "dev": (3.7, 1000), "test": (11.0, 3000)},
    },
    "minisuperb": {
        "asr": {"train": (10.0, 2835), "dev": (5.4, 2703), "test": (5.4, 2620)},
        "sid": {"train": (31.3, 13761), "dev": (15.7, 6904), "test": (18.8, 8251)},
        "se": {"train": (0.81, 1000), "dev": (0.24, 300), "test": (0.6, 824)},
        "ss": {"train": (5.84, 1400), "dev": (3.7, 1000), "test": (11.0, 3000)},
    },
}
DATA_SOURCE = ("config/schema/report.schema.yaml superb_protocol (full datasets) and config/minisuperb.yaml "
               "sampling.paper (subsets at the same mean lengths); ASR train 10 h: the Libri-light 10 h set "
               "(2,835 utterances: an estimate, 10 h at train-clean-100's mean 12.7 s)")


# --- data and settings ---------------------------------------------------------------------------


def protocol_data(protocol: str, stats_dir: Path | None) -> dict:
    """{task: {split: (hours, utterances)}} from stats.json files when given, else DATA."""
    data = {task: dict(splits) for task, splits in DATA[protocol].items()}
    if stats_dir is None:
        return data
    for task in TASKS:
        path = stats_dir / task / "stats.json"
        if not path.is_file():
            continue
        stats = json.loads(path.read_text())
        source = stats["subsets"].get("paper/seed42") if protocol == "minisuperb" else stats["manifest"]
        if source:
            data[task] = {split: (source[split]["hours"], source[split]["utterances"]) for split in ("train", "dev", "test")}
    return data


def head_macs(protocols=PROTOCOLS, shapes=tuple(SHAPES)) -> dict:
    """{protocol: {shape: {task: {"per_frame": head + featurizer forward MACs, "frame_rate": ...}}}},
    counted with thop on the heads the trainer builds (bench_offline's synthetic stores)."""
    import bench_offline
    from minisuperb.downstream.loop import Trainer
    from minisuperb.downstream.protocols import resolve_settings

    counted: dict = {}
    with tempfile.TemporaryDirectory(prefix="project_cost_") as tmp:
        for protocol in protocols:
            for shape in shapes:
                for task in TASKS:
                    settings = resolve_settings(protocol, task)
                    root = Path(tmp) / protocol / shape / task
                    store, records = bench_offline.synthetic_store(root, task, 2, 1.0, shape=SHAPES[shape])
                    trainer = Trainer(bench_offline.run_spec(task, settings, root / "out"), store, records)
                    macs = bench_offline.head_train_macs_per_frame(trainer)
                    transform = getattr(trainer.task, "transform", None)
                    frame_rate = 16000 / transform.hop_length if transform is not None else SHAPES[shape][2]
                    counted.setdefault(protocol, {}).setdefault(shape, {})[task] = {
                        "per_frame": macs["head"] + macs["featurizer"], "head_per_frame": macs["head"],
                        "featurizer_per_frame": macs["featurizer"], "frame_rate": frame_rate,
                        "settings": {key: settings[key] for key in ("steps", "batch_size", "accumulate", "eval_every")},
                    }
    return counted


# --- rates -----------------------------------------------------------------------------------------


def rates_from_offline_json(path: Path, upstream_macs: dict) -> dict:
    """This CPU's rates from bench_offline.py's JSON (the `as_is` rows): per task the head's
    effective training MACs per CPU-second (store reads included: the bench reads in the training
    process), and the on-the-fly upstream's audio seconds per CPU-second."""
    report = json.loads(path.read_text())
    rows = [r for r in report["results"] if r.get("variant", "as_is") == "as_is"]
    head = {r["task"]: {"value": r["macs"]["head_train_per_step"] / r["offline"]["cpu_s"],
                        "source": f"measured: {path.name}, offline CPU s/step ({report['date']})"} for r in rows}
    fly = [r["audio_seconds_per_step"] / r["on_the_fly"]["data_cpu_s"] for r in rows if r["on_the_fly"]["data_cpu_s"] > 0]
    return {
        "device": f"this CPU, 1 core ({report['machine']})",
        "unit": "CPU core-hours",
        "upstream_macs_per_second": upstream_macs,
        "extraction_audio_seconds_per_second": {"base": {
            "value": 8.66, "source": "measured: BENCHMARKS.md Extraction, ours float32 (oneDNN linears, one utterance "
                                     "per batch): 8.66 audio s per CPU-second, i.e. per core-second"}},
        "on_the_fly_audio_seconds_per_second": {"base": {
            "value": sum(fly) / len(fly), "source": f"measured: {path.name}, upstream CPU time on the fly (stock kernels, batch 1)"}},
        "head_train_macs_per_second": head,
        "store_read_frames_per_second": None,  # included in the offline steps measured here
        "loader_workers": 1,
        "step_floor_seconds": {"value": 0.0, "source": "measured steps include their overhead"},
    }


def rates_from_gpu_check(path: Path, fallback: dict, counted: dict) -> dict:
    """A GPU's rates from gpu_check.py's JSON (Base shape): extraction (ours: float16 autocast,
    batched; on the fly: batched float32, else the reference), each task's head at its measured
    seconds per step; whatever the check could not measure (a failed section) comes from
    `fallback` (a rates JSON: the assumed A100 rates by default) and keeps its source."""
    report = json.loads(path.read_text())
    methods = {name: m for name, m in report["extraction"]["methods"].items() if "audio_seconds_per_second" in m}
    source = f"measured: {path.name} ({report['date']}, {report['environment'].get('gpu', report['environment']['device'])})"
    head = dict(fallback["head_train_macs_per_second"])
    measured_tasks = {task: result for task, result in report["tasks"].items() if "training" in result}
    for task, result in measured_tasks.items():
        training = result["training"]
        per_frame = counted["minisuperb"]["base"][task]
        frames = training["frames_per_second"] * training["s_per_step"]
        head[task] = {"value": TRAIN_MACS_PER_FORWARD * per_frame["per_frame"] * frames / training["s_per_step"],
                      "source": source + f", s/step with {report['sizes']['workers']} loader workers"}
    read = [r["store_read"]["frames_per_second"] for task, r in measured_tasks.items() if task != "sid"]
    device = report["environment"].get("gpu", report["environment"]["device"])
    if report["sizes"].get("shape", "base") != "base":
        device += f" ({report['sizes']['shape']} shape: not a Base measurement, for testing only)"
    unit = "GPU-hours" if "gpu" in report["environment"] else f"wall-hours on {report['environment']['threads']} CPU thread(s)"
    rates = {**fallback, "device": device, "unit": unit, "head_train_macs_per_second": head,
             "loader_workers": report["sizes"]["workers"],
             "step_floor_seconds": {"value": 0.0, "source": "measured steps include their overhead"}}
    if "ours" in methods:
        rates["extraction_audio_seconds_per_second"] = {"base": {"value": methods["ours"]["audio_seconds_per_second"],
                                                                 "source": source}}
    fly = methods.get("batched_float32") or methods.get("reference")
    if fly:
        rates["on_the_fly_audio_seconds_per_second"] = {"base": {"value": fly["audio_seconds_per_second"], "source": source}}
    if read:
        rates["store_read_frames_per_second"] = {"value": min(read), "source": source + " (one process)"}
    return rates


def value(entry) -> float:
    return float(entry["value"] if isinstance(entry, dict) else entry)


def assumed(*entries) -> bool:
    return any(isinstance(e, dict) and str(e.get("source", "")).upper().startswith("ASSUMED") for e in entries)


def shape_rate(table: dict, shape: str, macs: dict) -> tuple[float, bool]:
    """An audio-seconds-per-second rate of `shape`: given, or the Base rate x Base / shape MACs."""
    if shape in table:
        return value(table[shape]), assumed(table[shape])
    base = table["base"]
    return value(base) * value(macs["base"]) / value(macs[shape]), True


# --- the projection --------------------------------------------------------------------------------


def task_cost(protocol: str, shape: str, task: str, data: dict, counted: dict, rates: dict) -> dict:
    """Seconds of our workflow (extraction, training, evaluation) and of on-the-fly training for
    one (protocol, model shape, task); `assumed` when any rate used is an assumption."""
    macs = counted[protocol][shape][task]
    settings = macs["settings"]
    splits = data[task]
    steps = int(settings["steps"])
    per_step = int(settings["batch_size"]) * int(settings["accumulate"])
    dev_passes = math.ceil(steps / int(settings["eval_every"]))
    train_hours, train_utts = splits["train"]
    mean_train_s = train_hours * 3600 / train_utts
    head_rate_entry = rates["head_train_macs_per_second"][task]
    head_rate = value(head_rate_entry)
    floor_entry = rates.get("step_floor_seconds") or {"value": 0.0}
    floor = value(floor_entry)
    pooled = task == "sid"
    layers, dim, _ = SHAPES[shape]

    def train_step_s(frames: float, stored_frames: float) -> float:
        compute = TRAIN_MACS_PER_FORWARD * macs["per_frame"] * frames / head_rate
        read = rates.get("store_read_frames_per_second")
        if read and not pooled:
            # Read rates were measured on Base stores; a frame of another shape is more bytes.
            bytes_ratio = layers * dim / (SHAPES["base"][0] * SHAPES["base"][1])
            compute = max(compute, stored_frames * bytes_ratio / (value(read) * max(1, rates.get("loader_workers", 1))))
        return max(compute, floor)

    def forward_s(frames: float) -> float:
        return macs["per_frame"] * frames / head_rate  # a third of the training time per frame

    frame_rate = macs["frame_rate"]
    train_frames_per_step = per_step * (1 if pooled else mean_train_s * frame_rate)
    stored_per_step = per_step * (1 if pooled else mean_train_s * 50.0)
    eval_hours = dev_passes * splits["dev"][0] + splits["test"][0]
    eval_utts = dev_passes * splits["dev"][1] + splits["test"][1]
    eval_frames = eval_utts if pooled else eval_hours * 3600 * frame_rate
    extract_rate, extract_assumed = shape_rate(rates["extraction_audio_seconds_per_second"], shape, rates["upstream_macs_per_second"])
    fly_rate, fly_assumed = shape_rate(rates["on_the_fly_audio_seconds_per_second"], shape, rates["upstream_macs_per_second"])
    audio_hours = sum(hours for hours, _ in splits.values())
    ours = {
        "extraction_s": audio_hours * 3600 / extract_rate,
        "training_s": steps * train_step_s(train_frames_per_step, stored_per_step),
        "evaluation_s": forward_s(eval_frames),
    }
    # On the fly: SID heads see frames (no pooled store), every utterance cropped to 8 s.
    fly_train_s = min(mean_train_s, SID_CROP_SECONDS) if pooled else mean_train_s
    fly_frames_per_step = per_step * fly_train_s * frame_rate
    fly = {
        "upstream_training_s": steps * per_step * fly_train_s / fly_rate,
        "head_training_s": steps * max(TRAIN_MACS_PER_FORWARD * macs["per_frame"] * fly_frames_per_step / head_rate, floor),
        "upstream_evaluation_s": eval_hours * 3600 / fly_rate,
        "head_evaluation_s": forward_s(eval_hours * 3600 * frame_rate),
    }
    return {
        "protocol": protocol, "model": shape, "task": task, "steps": steps, "utterances_per_step": per_step,
        "dev_passes": dev_passes, "audio_hours_extracted": audio_hours, "mean_train_seconds": mean_train_s,
        "head_macs_per_frame": macs["per_frame"], "frame_rate": frame_rate,
        "ours": ours | {"total_s": sum(ours.values())},
        "on_the_fly": fly | {"total_s": sum(fly.values())},
        "assumed": extract_assumed or fly_assumed or assumed(head_rate_entry, floor_entry,
                                                            rates.get("store_read_frames_per_second")),
    }


def project(rates: dict, counted: dict, stats_dir: Path | None) -> dict:
    rows = []
    for protocol in PROTOCOLS:
        data = protocol_data(protocol, stats_dir)
        for shape in SHAPES:
            for task in TASKS:
                rows.append(task_cost(protocol, shape, task, data, counted, rates))
    totals = {}
    for protocol in PROTOCOLS:
        for shape in SHAPES:
            selected = [r for r in rows if r["protocol"] == protocol and r["model"] == shape]
            totals[f"{protocol}/{shape}"] = {
                "ours_hours": sum(r["ours"]["total_s"] for r in selected) / 3600,
                "ours_extraction_hours": sum(r["ours"]["extraction_s"] for r in selected) / 3600,
                "ours_training_hours": sum(r["ours"]["training_s"] for r in selected) / 3600,
                "ours_evaluation_hours": sum(r["ours"]["evaluation_s"] for r in selected) / 3600,
                "on_the_fly_hours": sum(r["on_the_fly"]["total_s"] for r in selected) / 3600,
                "assumed": any(r["assumed"] for r in selected),
            }
    return {"rates": rates, "rows": rows, "totals": totals, "data_source": DATA_SOURCE if stats_dir is None else str(stats_dir)}


def markdown(projection: dict) -> str:
    rates = projection["rates"]
    unit = rates.get("unit", "device-hours")
    lines = [f"Device: {rates['device']}; unit: {unit}. `*`: built from an ASSUMED (unmeasured) rate.", "",
             f"| protocol | model | task | steps | audio h extracted | extraction | training | evaluation | ours, total "
             f"| on the fly (s3prl), total | on the fly / ours |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in projection["rows"]:
        mark = "*" if r["assumed"] else ""
        o, f = r["ours"], r["on_the_fly"]
        lines.append(f"| {r['protocol']} | {r['model']} | {r['task']} | {r['steps']:,} | {r['audio_hours_extracted']:.1f} "
                     f"| {o['extraction_s'] / 3600:.3f} | {o['training_s'] / 3600:.2f} | {o['evaluation_s'] / 3600:.3f} "
                     f"| {o['total_s'] / 3600:.2f}{mark} | {f['total_s'] / 3600:.2f}{mark} | {f['total_s'] / o['total_s']:.1f}x |")
    lines += ["", f"| protocol / model | ours: extraction | training | evaluation | total | on the fly (s3prl) | on the fly / ours |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for name, t in projection["totals"].items():
        mark = "*" if t["assumed"] else ""
        lines.append(f"| {name} | {t['ours_extraction_hours']:.2f} | {t['ours_training_hours']:.2f} | {t['ours_evaluation_hours']:.2f} "
                     f"| **{t['ours_hours']:.1f}**{mark} | {t['on_the_fly_hours']:.1f}{mark} | {t['on_the_fly_hours'] / t['ours_hours']:.1f}x |")
    lines += ["", "Rates used:", ""]
    for key in ("extraction_audio_seconds_per_second", "on_the_fly_audio_seconds_per_second"):
        for shape, entry in rates[key].items():
            lines.append(f"- {key} ({shape}): {value(entry):,.1f} ({entry.get('source', '') if isinstance(entry, dict) else ''})")
    for task, entry in rates["head_train_macs_per_second"].items():
        lines.append(f"- head training MACs/s, {task}: {value(entry) / 1e9:,.1f} G ({entry.get('source', '')})")
    if rates.get("store_read_frames_per_second"):
        entry = rates["store_read_frames_per_second"]
        lines.append(f"- store reads: {value(entry):,.0f} Base frames/s per loader worker x {rates.get('loader_workers', 1)} "
                     f"workers ({entry.get('source', '')})")
    for shape, entry in rates["upstream_macs_per_second"].items():
        lines.append(f"- upstream MACs per audio second ({shape}): {value(entry) / 1e9:.2f} G ({entry.get('source', '')})")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--rates", type=Path, help="a rates JSON (e.g. bench/cost_rates_a100_assumed.json)")
    source.add_argument("--offline-json", type=Path, help="bench_offline.py's JSON: this CPU's measured rates")
    source.add_argument("--gpu-check", type=Path, help="gpu_check.py's JSON: a GPU's measured rates")
    parser.add_argument("--fallback-rates", type=Path, default=Path(__file__).with_name("cost_rates_a100_assumed.json"),
                        help="a rates JSON for what --offline-json/--gpu-check do not measure (upstream MACs; "
                             "with --gpu-check, any failed section)")
    parser.add_argument("--head-macs", type=Path, help="reuse head MACs from an earlier projection JSON (else counted, ~20 s)")
    parser.add_argument("--stats-dir", type=Path, help="results/data: use the data stage's stats.json where present")
    parser.add_argument("--json", type=Path, help="write the projection here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    counted = json.loads(args.head_macs.read_text())["head_macs"] if args.head_macs else head_macs()
    fallback = json.loads(args.fallback_rates.read_text())
    if args.rates:
        rates = json.loads(args.rates.read_text())
    elif args.offline_json:
        rates = rates_from_offline_json(args.offline_json, fallback["upstream_macs_per_second"])
    else:
        rates = rates_from_gpu_check(args.gpu_check, fallback, counted)
    projection = project(rates, counted, args.stats_dir) | {"head_macs": counted,
                                                             "elapsed_s": time.perf_counter() - started}
    if args.json:
        args.json.write_text(json.dumps(projection, indent=2) + "\n")
    print(markdown(projection))
    return projection


if __name__ == "__main__":
    main()

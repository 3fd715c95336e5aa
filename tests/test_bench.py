"""The benchmark scripts keep working: bench/gpu_check.sh on a CPU at a tiny size (the GPU run
is the real one), and bench/project_cost.py's arithmetic on given MACs and rates."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import gpu_check  # noqa: E402
import project_cost  # noqa: E402

TASKS = ("asr", "sid", "se", "ss")
TINY_RUN = ["--device", "cpu", "--scale", "0.0002", "--length-scale", "0.1", "--shape", "tiny", "--train-steps", "1",
            "--warmup", "0", "--workers", "0", "--threads", "1", "--distinct-batches", "1", "--budget-s", "60"]


@pytest.fixture(scope="module")
def gpu_check_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    completed = subprocess.run([str(REPO / "bench" / "gpu_check.sh"), *TINY_RUN, "--out", str(out)],
                               cwd=REPO, capture_output=True, text=True, timeout=300,
                               env={**os.environ, "PYTHON": sys.executable})
    assert completed.returncode == 0, completed.stderr[-4000:]
    return out


def test_gpu_check_writes_json_with_finite_numbers(gpu_check_run):
    report = json.loads((gpu_check_run / gpu_check.JSON_NAME).read_text())
    assert {"environment", "sizes", "extraction", "feature_error", "tasks", "on_the_fly_estimate",
            "peak_memory", "elapsed_s", "errors"} <= set(report)
    assert report["errors"] == []
    methods = report["extraction"]["methods"]
    assert {"reference", "batch1_bfloat16", "batched_float32", "ours"} == set(methods)
    for method in methods.values():
        assert method["audio_seconds_per_second"] > 0 and method["peak_memory"]["bytes"] > 0
    assert methods["reference"]["vs_reference"] == pytest.approx(1.0)
    # bfloat16 on the CPU moves features by about 1e-2 (BENCHMARKS.md, "Extraction"), so it ran.
    assert 1e-4 < report["feature_error"]["max"] < 0.1
    assert len(report["feature_error"]["relative_error_per_layer"]) == 3  # the tiny model: 2 layers + input
    assert set(report["tasks"]) == set(TASKS)
    for result in report["tasks"].values():
        training, reads = result["training"], result["store_read"]
        assert training["steps"] == 1 and training["steps_per_second"] > 0 and training["frames_per_second"] > 0
        assert reads["frames_per_second"] > 0 and reads["read_over_consumption"] > 0
    assert gpu_check.finite_numbers(report)


def test_gpu_check_writes_markdown_tables(gpu_check_run):
    text = (gpu_check_run / gpu_check.MARKDOWN_NAME).read_text()
    assert "| method | audio s / s | vs reference |" in text
    assert "| task | batch | steps / s |" in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert sum(line.split("|")[1].strip() in TASKS for line in rows) == len(TASKS)
    cells = [cell.strip().lower() for line in rows for cell in line.split("|")]
    assert not any(cell.startswith(("nan", "inf", "-inf")) for cell in cells)


def counted_macs() -> dict:
    """Head MACs as project_cost.head_macs returns them, made up (no model is built)."""
    settings = {"minisuperb": {"asr": (20000, 32, 1, 20000), "sid": (20000, 8, 4, 2000), "se": (10000, 8, 1, 1000),
                               "ss": (15000, 8, 1, 1500)},
                "superb": {"asr": (200000, 32, 1, 2000), "sid": (200000, 8, 4, 5000), "se": (150000, 8, 1, 1250),
                           "ss": (150000, 8, 1, 2000)}}
    return {protocol: {shape: {task: {"per_frame": 4e6 * (2 if shape == "large" else 1), "frame_rate": 50.0,
                                      "settings": dict(zip(("steps", "batch_size", "accumulate", "eval_every"), values))}
                               for task, values in tasks.items()} for shape in project_cost.SHAPES}
            for protocol, tasks in settings.items()}


def test_project_cost_arithmetic():
    rates = json.loads((REPO / "bench" / "cost_rates_a100_assumed.json").read_text())
    projection = project_cost.project(rates, counted_macs(), stats_dir=None)
    assert len(projection["rows"]) == 2 * 2 * 4
    row = next(r for r in projection["rows"] if (r["protocol"], r["model"], r["task"]) == ("minisuperb", "base", "se"))
    hours = sum(h for h, _ in project_cost.DATA["minisuperb"]["se"].values())
    assert row["ours"]["extraction_s"] == pytest.approx(hours * 3600 / 3120)
    # SE: 10,000 steps x max(3 x 4e6 MACs x 8 utterances x 2.92 s x 50 Hz / 2e12, reads, 0.01 s floor).
    frames = 8 * 0.81 * 3600 / 1000 * 50
    step = max(3 * 4e6 * frames / 2e12, frames / (20000 * 2), 0.01)
    assert row["ours"]["training_s"] == pytest.approx(10000 * step)
    assert row["dev_passes"] == 10 and row["assumed"]
    for r in projection["rows"]:
        assert r["on_the_fly"]["total_s"] > r["ours"]["total_s"] > 0
    large = projection["totals"]["superb/large"]
    assert large["on_the_fly_hours"] > projection["totals"]["superb/base"]["on_the_fly_hours"]
    assert all(math.isfinite(t["ours_hours"]) for t in projection["totals"].values())
    text = project_cost.markdown(projection)
    assert "| minisuperb/base |" in text and "*" in text


def test_project_cost_reads_gpu_check(gpu_check_run, tmp_path):
    assumed = json.loads((REPO / "bench" / "cost_rates_a100_assumed.json").read_text())
    rates = project_cost.rates_from_gpu_check(gpu_check_run / gpu_check.JSON_NAME, assumed, counted_macs())
    assert "not a Base measurement" in rates["device"]
    assert all(entry["source"].startswith("measured") for entry in rates["head_train_macs_per_second"].values())
    projection = project_cost.project(rates, counted_macs(), stats_dir=None)
    assert all(math.isfinite(t["ours_hours"]) and t["ours_hours"] > 0 for t in projection["totals"].values())
    # A task the check could not run keeps its assumed rate (and the projection says so).
    report = json.loads((gpu_check_run / gpu_check.JSON_NAME).read_text())
    report["tasks"]["se"] = {"error": "RuntimeError: simulated"}
    (tmp_path / "partial.json").write_text(json.dumps(report))
    rates = project_cost.rates_from_gpu_check(tmp_path / "partial.json", assumed, counted_macs())
    assert rates["head_train_macs_per_second"]["se"]["source"].startswith("ASSUMED")
    rows = project_cost.project(rates, counted_macs(), stats_dir=None)["rows"]
    assert all(r["assumed"] for r in rows if r["task"] == "se")

"""The report stage end to end on a small fixture of finished runs: collect -> report, the files
it writes, its bad-input messages, and the HTML rendered in headless Chromium."""

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from minisuperb import catalog
from minisuperb.cli import main
from minisuperb.cli import run as cli
from minisuperb.corpora.manifest import write_subset
from minisuperb.errors import MinisuperbError
from minisuperb.report.build import OUTPUTS, audio_hours
from minisuperb.report.commands import report_settings

TASKS = catalog.TASK_NAMES
REFERENCES = {"fbank": "FBANK", "w2v2": "wav2vec 2.0 Base", "hubert": "HuBERT Base",
              "wavlm": "WavLM Large", "mystery": None}
# Quality per model (0 = FBANK-like, 1 = best); ranks like SUPERB's public set for the four
# models with a reference row (WavLM Large > HuBERT Base > wav2vec 2.0 Base > FBANK).
QUALITY = {"fbank": 0.0, "w2v2": 0.4, "mystery": 0.5, "hubert": 0.6, "wavlm": 1.0}
TRAIN_SEED = 1337  # the workflow's default downstream.train_seeds
# Settings of the downstream heads in the fixture's metrics files (forward MACs per step).
DIM, FRAME_RATE = 32, 50.0


def task_metrics(task, quality):
    return {
        "asr": {"wer": 90 - 60 * quality, "cer": 60 - 40 * quality},
        "sid": {"acc": 10 + 80 * quality},
        "se": {"pesq": 1.5 + quality, "stoi": 80 + 10 * quality, "si_sdri": 2 + 5 * quality},
        "ss": {"si_sdri": 1 + 8 * quality},
    }[task]


def write_metrics(root, protocol, sampling, seed, model, task, quality):
    folder = root / "downstream" / protocol / sampling / f"seed{seed}" / f"train{TRAIN_SEED}" / model / task
    folder.mkdir(parents=True)
    test = task_metrics(task, quality)
    record = {
        "model": model, "task": task, "protocol": protocol, "sampling": sampling, "seed": seed, "train_seed": TRAIN_SEED,
        "metrics": {"dev": test, "test": test}, "primary": next(iter(test)),
        "higher_is_better": task != "asr", "steps": 100, "best_step": 100, "wall_time_s": 12.5,
        "device": "cpu", "layer_weights": [0.5, 0.5], "config": {},
        "macs": {"train": 3.0e9, "eval": 1.0e8},
    }
    (folder / "metrics.json").write_text(json.dumps(record))
    (folder / "checkpoint-best.pt").write_bytes(b"\0" * 1000)


def write_data(root):
    """Manifests (2 s utterances), subset lists of the runs, and the stats.json the report reads
    (by the data stage's own `subset-stats`)."""
    for task in TASKS:
        subsets = {}
        for split, count in (("train", 6), ("dev", 2), ("test", 2)):
            records = [{"id": f"{split}{i}", "num_samples": 32000, "sample_rate": 16000} for i in range(count)]
            manifest = root / "data" / task / "manifest" / f"{split}.jsonl"
            manifest.parent.mkdir(parents=True, exist_ok=True)
            manifest.write_text("".join(json.dumps(r) + "\n" for r in records))
            for sampling, seed, keep in (("paper", 1, 3), ("paper", 2, 3), ("full", 1, count), ("full", 2, count)):
                ids = [r["id"] for r in records][: keep if split == "train" else count]
                subsets.setdefault((sampling, seed), {})[split] = ids
        for (sampling, seed), subset in subsets.items():
            write_subset(subset, root / "data" / task / "subsets" / sampling / f"seed{seed}")
        data = root / "data" / task
        cli(["subset-stats", "--manifest-dir", str(data / "manifest"),
             "--subset-dirs", *map(str, sorted(data.glob("subsets/*/seed*"))), "--stats", str(stats_path(root, task))])


def stats_path(root, task):
    return root / "data" / task / "stats.json"


def summary_path(root, model, task):
    """The mini run's first view, whose summary the workflow passes to the report."""
    return root / "features" / model / task / "paper" / "seed1.json"


def write_summaries(root):
    for model in QUALITY:
        for task in TASKS:
            summary = {"model": model, "model_hash": "0" * 8, "num_layers": 3, "dim": DIM,
                       "frame_rate": FRAME_RATE, "view_extraction_s": 4.0, "audio_seconds": 20.0,
                       "macs_per_second": 0.0 if model == "fbank" else 1.0e9, "bytes_on_disk": 2048}
            path = summary_path(root, model, task)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(summary))


def make_workdir(base):
    """A results folder holding a finished mini run and a full run (two seeds each)."""
    root = base / "results"
    for model, quality in QUALITY.items():
        for task in TASKS:
            for seed, jitter in ((1, 0.0), (2, 0.02)):
                write_metrics(root, "demo", "paper", seed, model, task, quality + jitter)
                # The full run swaps w2v2 and mystery.
                full_quality = {"w2v2": 0.5, "mystery": 0.4}.get(model, quality)
                write_metrics(root, "demo_full", "full", seed, model, task, full_quality)
    write_data(root)
    write_summaries(root)
    return root


@pytest.fixture
def workdir(tmp_path):
    return make_workdir(tmp_path)


SETTINGS = {"mini_run": {"protocol": "demo", "sampling": "paper"},
            "full_run": {"protocol": "demo_full", "sampling": "full"},
            "points": "run", "baseline_model": "fbank", "bootstrap": 200, "seed": 0}


def collect(root):
    report = root / "report"
    cli(["collect", str(root / "downstream"), "--references", json.dumps(REFERENCES),
         "--output", str(report / "results.csv"), "--training-output", str(report / "training.csv")])
    return report


def build(root, out, settings=SETTINGS, tasks=TASKS):
    report = root / "report"
    stats = {task: str(stats_path(root, task)) for task in tasks}
    summaries = {model: {task: str(summary_path(root, model, task)) for task in tasks} for model in QUALITY}
    cli(["report", "--results", str(report / "results.csv"), "--training", str(report / "training.csv"),
         "--stats", json.dumps(stats), "--feature-summaries", json.dumps(summaries),
         "--settings", json.dumps(settings), "--output-dir", str(out)])
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One report, shared by the tests that only read it."""
    root = make_workdir(tmp_path_factory.mktemp("built"))
    collect(root)
    return build(root, root / "report")


def test_collect_makes_one_row_per_run_seed_and_model(workdir):
    results = pd.read_csv(collect(workdir) / "results.csv")
    assert len(results) == 5 * 2 * 2
    assert list(results.columns[:6]) == ["protocol", "sampling", "seed", "train_seed", "upstream", "reference"]
    assert {"ASR_wer", "ASR_cer", "SID_acc", "SE_pesq", "SE_stoi", "SE_sisdri", "SS_sisdri"} <= set(results.columns)
    row = results[(results["upstream"] == "wavlm") & (results["seed"] == 1) & (results["protocol"] == "demo")].iloc[0]
    assert row["reference"] == "WavLM Large" and row["ASR_wer"] == pytest.approx(30.0)
    training = pd.read_csv(workdir / "report" / "training.csv")
    assert len(training) == 20 * 4 and (training["bytes_on_disk"] >= 1000).all()


def test_report_writes_every_file(built):
    for name in OUTPUTS:
        assert (built / name).stat().st_size > 0, name
    for figure in ("ranking", "per_task", "scatter", "cost", "task_subsets", "predicted_score"):
        assert (built / "figures" / f"{figure}.png").read_bytes()[:4] == b"\x89PNG"


def test_published_studies_and_the_prediction_for_a_model_without_a_superb_row(built):
    """Every report carries the two studies on the published tables; `mystery`, the one model
    with no SUPERB row, gets a predicted SUPERB score with its interval."""
    markdown = (built / "report.md").read_text()
    assert "## Task subsets on the published SUPERB tables" in markdown and "## Predicted SUPERB score" in markdown
    assert "SUPERB paper set, Spearman with its full score: all four tasks 0.699" in markdown
    studies = json.loads((built / "published_studies.json").read_text())
    [row] = studies["evaluated"]
    assert row["model"] == "mystery" and row["minisuperb_score"] == pytest.approx(500.0)
    public = row["public"]
    assert public["low"] < public["prediction"] < public["high"] and public["in_range"]
    assert f"| mystery | 500.0 | {public['prediction']:.1f} [{public['low']:.1f}, {public['high']:.1f}] |" in markdown


def test_scores_rank_the_models(built):
    scores = pd.read_csv(built / "scores.csv")
    mini = scores[scores["protocol"] == "demo"].set_index("upstream")
    assert list(mini.sort_values("rank").index) == ["wavlm", "hubert", "mystery", "w2v2", "fbank"]
    assert mini.loc["fbank", "minisuperb_score"] == 0.0
    assert mini.loc["wavlm", "minisuperb_score"] == pytest.approx(1000.0)  # best on every metric
    assert mini.loc["wavlm", "superb_public"] == pytest.approx(1286.18, abs=0.01)
    assert mini.loc["hubert", "minisuperb_score_std"] > 0  # two seeds
    assert set(scores["protocol"]) == {"demo", "demo_full"}


def test_correlation_with_known_rankings(built):
    corr = json.loads((built / "correlation.json").read_text())
    public = corr["references"]["public"]
    assert public["n"] == 4 and public["spearman"]["value"] == pytest.approx(1.0)
    assert public["kendall"]["value"] == pytest.approx(1.0)
    # Four models: the exact p of perfect agreement is 2/24, and no interval is given.
    assert public["spearman"]["p_value"] == pytest.approx(2 / 24) and public["spearman"]["ci"] is None
    assert set(public["per_task"]) == {"ASR", "SID", "SE", "SS"}
    assert set(corr["references"]["paper"]["per_task"]) == {"ASR", "SID"}  # the paper set has no SE/SS
    # The full run swaps two neighbours of five: rho = 1 - 6*2/(5*24) = 0.9.
    assert corr["full_run"]["spearman"]["value"] == pytest.approx(0.9)
    assert corr["full_run"]["order_broken"] == [["mystery", "w2v2"]]
    assert corr["runs"]["mini"] == {"protocol": "demo", "sampling": "paper"} and corr["seeds"] == [1, 2]
    assert corr["train_seeds"] == [1337]
    # Run points: FBANK's and the best model's seed-mean WER (90 and 30, seed 2 moved by 0.02 quality).
    assert corr["score_points"]["ASR_wer"] == {"fbank": pytest.approx(89.4), "sota": pytest.approx(29.4)}


def test_report_without_a_full_run(workdir):
    collect(workdir)
    out = build(workdir, workdir / "out", SETTINGS | {"full_run": None})
    corr = json.loads((out / "correlation.json").read_text())
    assert "full_run" not in corr and corr["runs"]["full"] is None
    assert "full run" not in (out / "report.md").read_text()


def test_summary_comes_first_and_says_what_the_run_found(built):
    markdown = (built / "report.md").read_text()
    assert markdown.index("## Summary") < markdown.index("## Ranking")
    summary = markdown.split("## Summary")[1].split("## Ranking")[0]
    assert "1. wavlm 1000.0, 2. hubert 600.0, 3. mystery 500.0, 4. w2v2 400.0, 5. fbank 0.0" in summary
    assert "Mini against full run (demo_full/full), Spearman: 0.900 (p = 0.083; 5 models; mystery/w2v2 swap)" in summary
    assert "SUPERB public set 1.000 (p = 0.083; 4 models)" in summary
    assert "No 95% interval where fewer than 8 models" in summary
    assert "Cost: the mini run used 75% of the full run's MACs" in summary
    # The SUPERB count is on the full datasets: the summary says how much audio each side has.
    assert re.search(r"on the full datasets \(counted; [\d,]+ h of audio against this run's [\d.]+ h\)", summary)
    assert "report.points: run" in summary  # run points move when a model is added: said so


def test_expectations_are_checked_in_the_summary_and_their_own_section(workdir):
    collect(workdir)
    expectations = [{"model": "hubert", "beats": "w2v2", "metrics": ["SID_acc"]},
                    {"none_of": ["w2v2", "mystery"], "beats": "fbank", "metrics": "every"}]
    markdown = (build(workdir, workdir / "out", SETTINGS | {"expectations": expectations}) / "report.md").read_text()
    summary = markdown.split("## Summary")[1].split("## Ranking")[0]
    # Every quality above FBANK's beats it on every metric: the second expectation fails, by name.
    assert "Expectations: 1 of 2 hold; not held: none of w2v2, mystery beats fbank on every metric" in summary
    section = markdown.split("## Expectations")[1].split("## ")[0]
    assert "SID_acc 58.8 vs 42.8" in section and "w2v2, mystery beat fbank on every one" in section


def test_comparisons_with_fewer_than_three_models_are_left_out_and_named(workdir):
    """The demo's case: only FBANK has a SUPERB row, so every SUPERB comparison has one model:
    no row, no panel, one sentence; the full run is still compared. Fixed points: no warning."""
    report = workdir / "report"
    cli(["collect", str(workdir / "downstream"), "--references", json.dumps({"fbank": "FBANK"}),
         "--output", str(report / "results.csv"), "--training-output", str(report / "training.csv")])
    points = {metric: {"fbank": 0.0, "sota": 100.0} for metric in ("ASR_wer", "SID_acc", "SE_pesq", "SE_stoi", "SS_sisdri")}
    out = build(workdir, workdir / "out", SETTINGS | {"points": "config", "reference_points": points})
    markdown = (out / "report.md").read_text()
    assert ("Not shown, since a rank correlation needs 3 models ranked on both sides: SUPERB paper set, SUPERB "
            "public set, SUPERB hidden dev, SUPERB hidden test (needs at least 3 models in common, has 1).") in markdown
    run_part = markdown.split("## Task subsets on the published SUPERB tables")[0]  # the run's own sections
    assert "| SUPERB paper set |" not in run_part and "SUPERB public set |" not in run_part.split("## Ranking")[1]
    assert "Against SUPERB: no comparison" in markdown and "report.points: run" not in markdown
    assert "| score | 5 | 0.900 |" in markdown  # the full run's row
    assert (out / "report.html").read_text().count('<img src="data:image/png;base64,') == 6


def test_model_missing_from_every_reference_is_reported_not_fatal(built):
    corr = json.loads((built / "correlation.json").read_text())
    assert [m["model"] for m in corr["missing_from_references"]] == ["mystery"]
    assert "no 'reference' row name" in corr["missing_from_references"][0]["why"]
    assert "mystery (no 'reference' row name" in (built / "report.md").read_text()


def test_cost_table_and_reduction(built):
    costs = pd.read_csv(built / "cost.csv").set_index(["model", "task"])
    assert len(costs) == 5 * 4 + 5 + 1
    # Mini upstream: 1e9 MACs/s x (3 train + 2 dev + 2 test) x 2 s, extracted once.
    assert costs.loc[("hubert", "asr"), "mini_upstream_macs"] == pytest.approx(1e9 * 14)
    assert costs.loc[("hubert", "asr"), "mini_downstream_train_macs"] == 3.0e9
    assert costs.loc[("all", "all"), "reduction_percent"] > 99.0
    assert costs.loc[("fbank", "all"), "mini_upstream_macs"] == 0.0
    # The full run extracts every utterance (6 + 2 + 2) x 2 s, with the same downstream MACs.
    assert costs.loc[("hubert", "asr"), "full_run_total_macs"] == pytest.approx(1e9 * 20 + 3.1e9)
    assert costs.loc[("hubert", "asr"), "full_run_reduction_percent"] == pytest.approx(100 * (1 - 17.1 / 23.1))
    assert "How MACs are counted" in (built / "report.md").read_text()


def test_report_is_deterministic(built):
    root = built.parent
    second = build(root, root / "again")
    written = sorted(p for p in second.rglob("*") if p.is_file())
    assert len(written) == len(OUTPUTS) + 6
    for path in written:
        assert path.read_bytes() == (built / path.relative_to(second)).read_bytes(), path.name


def test_html_is_self_contained(built):
    text = (built / "report.html").read_text()
    assert text.count('<img src="data:image/png;base64,') == 6
    assert "src=\"http" not in text and "<link" not in text


def test_empty_run_is_a_clear_error(tmp_path):
    (tmp_path / "downstream").mkdir()
    with pytest.raises(MinisuperbError, match="the run is empty: no metrics.json"):
        cli(["collect", str(tmp_path / "downstream"), "--output", str(tmp_path / "r.csv"),
             "--training-output", str(tmp_path / "t.csv")])


def test_empty_run_exits_2_from_the_command_line(tmp_path, capsys):
    (tmp_path / "downstream").mkdir()
    status = main(["collect", str(tmp_path / "downstream"), "--output", str(tmp_path / "r.csv"),
                   "--training-output", str(tmp_path / "t.csv")])
    assert status == 2 and "the run is empty" in capsys.readouterr().err


def test_results_table_with_an_unknown_metric_column(workdir):
    report = collect(workdir)
    results = pd.read_csv(report / "results.csv").assign(ASR_bleu=1.0)
    results.to_csv(report / "results.csv", index=False)
    with pytest.raises(MinisuperbError, match=r"'ASR_bleu'.*Valid metric columns"):
        build(workdir, workdir / "out")


def test_unknown_metric_in_a_metrics_file_is_named(workdir):
    path = workdir / "downstream" / "demo" / "paper" / "seed1" / f"train{TRAIN_SEED}" / "fbank" / "asr" / "metrics.json"
    record = json.loads(path.read_text())
    record["metrics"]["test"]["bleu"] = 1.0
    path.write_text(json.dumps(record))
    with pytest.raises(MinisuperbError, match=r"fbank/asr/metrics.json: metric 'bleu'.*'ASR_bleu'"):
        collect(workdir)


def test_mini_run_not_in_the_results_is_named(workdir):
    collect(workdir)
    with pytest.raises(MinisuperbError, match=r"no rows for run demo/frac0.1.*report.mini_run"):
        build(workdir, workdir / "out", SETTINGS | {"mini_run": {"protocol": "demo", "sampling": "frac0.1"}})


def test_two_models_naming_the_same_reference_row_is_an_error(workdir):
    references = REFERENCES | {"mystery": "WavLM Large"}
    report = workdir / "report"
    cli(["collect", str(workdir / "downstream"), "--references", json.dumps(references),
         "--output", str(report / "results.csv"), "--training-output", str(report / "training.csv")])
    with pytest.raises(MinisuperbError, match=r"models mystery, wavlm name the same SUPERB row \(WavLM Large\)"):
        build(workdir, workdir / "out")


def test_a_job_without_its_stats_or_summary_is_named(workdir):
    collect(workdir)
    with pytest.raises(MinisuperbError, match=r"--stats gives no file for ss, which the training table has"):
        build(workdir, workdir / "out", tasks=TASKS[:-1])


def test_settings_are_checked_against_the_schema():
    settings = report_settings(json.dumps({"points": "run"}))
    assert settings["bootstrap"] == 1000 and settings["superb_protocol"] == "superb" and "asr" in settings["superb_data"]
    # Fixed, published points by default: adding a model changes no other model's score.
    assert report_settings("{}")["points"] == "config"
    with pytest.raises(MinisuperbError, match="report.points"):
        report_settings(json.dumps({"points": "best"}))


REPO = Path(__file__).resolve().parents[1]


def test_snakemake_runs_the_report_rules_and_attaches_the_figures(tmp_path):
    """The real Snakefile on fixture inputs: `collect` and `report` run (the stages before them
    are left out with --allowed-rules, their outputs being the fixture), then `snakemake
    --report` packs the four figures with their captions."""
    make_workdir(tmp_path)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["models"] = {name: {"loader": "s3prl", "name": "fbank", "reference": ref} for name, ref in REFERENCES.items()}
    config["runs"] = [SETTINGS["mini_run"], SETTINGS["full_run"]]
    config["sampling"]["seeds"] = [1, 2]
    config["report"] = SETTINGS
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
               "--configfile", str(tmp_path / "config.yaml"), "--cores", "1", "--allowed-rules", "collect", "report"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run([*command, "--", "results/report/report.html"], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads((tmp_path / "results" / "report" / "correlation.json").read_text())["full_run"]["n"] == 5
    run = subprocess.run([*command, "--report", str(tmp_path / "report.zip"), "--", "results/report/report.html"],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    with zipfile.ZipFile(tmp_path / "report.zip") as archive:
        names = archive.namelist()
        html_page = archive.read(next(n for n in names if n.endswith("report/report.html"))).decode()
    assert {Path(n).name for n in names if n.endswith(".png")} == {"ranking.png", "per_task.png", "scatter.png", "cost.png",
                                                                   "task_subsets.png", "predicted_score.png"}
    assert "best on top" in html_page  # a caption from report/ranking.rst


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
VIEWPORT = (1024, 768)  # a laptop window
# After load, writes into the DOM how many images decoded with a non-zero width, how wide the page
# is against the viewport, and how many tables are wider than the page or their own box.
PROBE = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const ok = images.filter(i => i.complete && i.naturalWidth > 0).length;
  const wide = Array.from(document.querySelectorAll("table")).filter(
    t => t.scrollWidth > t.clientWidth + 1 || t.getBoundingClientRect().right > window.innerWidth).length;
  const out = document.createElement("div");
  out.id = "render-probe";
  out.textContent = "images=" + images.length + " rendered=" + ok + " page=" + document.documentElement.scrollWidth
    + " viewport=" + window.innerWidth + " wide_tables=" + wide;
  document.body.appendChild(out);
});
</script>"""


@pytest.mark.browser
def test_report_renders_in_headless_chromium_without_scrolling_sideways(built, tmp_path):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing on CI: run tests/setup/install_chromium.sh")
        pytest.skip("chromium is not installed (tests/setup/install_chromium.sh installs it)")
    page = tmp_path / "probe.html"
    page.write_text((built / "report.html").read_text().replace("</body>", PROBE + "</body>"))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--hide-scrollbars"]
    dom = subprocess.run([CHROMIUM, *flags, f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    probe = re.search(r'id="render-probe">images=(\d+) rendered=(\d+) page=(\d+) viewport=(\d+) wide_tables=(\d+)<', dom)
    assert probe, dom[-2000:]
    images, rendered, page_width, viewport, wide_tables = map(int, probe.groups())
    assert images == rendered == 6
    assert viewport == VIEWPORT[0] and page_width <= viewport, "the page scrolls sideways"
    assert wide_tables == 0, "a table is wider than the page"
    screenshot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *flags, f"--screenshot={screenshot}", f"--window-size={VIEWPORT[0]},3000", page.as_uri()],
                   capture_output=True, timeout=120)
    assert screenshot.read_bytes()[:4] == b"\x89PNG" and screenshot.stat().st_size > 10_000


def test_audio_hours_count_each_task_of_the_run_once_and_its_full_datasets():
    data = {"asr": {"train_hours": 10.0, "eval": [{"hours": 5.4, "every_eval": True}, {"hours": 5.4, "every_eval": False}]},
            "sid": {"train_hours": 30.0, "eval": [{"hours": 1.0, "every_eval": False}]},
            "se": {"train_hours": 9.0, "eval": []}}  # not a task of the run: not counted
    seconds = {("m1", "asr"): 3600.0, ("m2", "asr"): 3600.0, ("m1", "sid"): 1800.0}  # models share the lists
    assert audio_hours(seconds, data) == (pytest.approx(1.5), pytest.approx(51.8))

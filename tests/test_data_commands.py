"""The data stage's sub-commands (`prepare`, `subsample`, `subset-stats`) through the CLI, and
its rules through a Snakemake dry run on corpora written in the real layouts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from corpus_fixtures import write_all
from minisuperb.cli import main
from minisuperb.config import validate_config
from minisuperb.corpora.manifest import SUBSET_RECORD, read_subset_list, write_subset
from minisuperb.downstream.data import load_split
from minisuperb.errors import MinisuperbError
from snakemake_api import dry_run

REPO = Path(__file__).resolve().parents[1]
SPLITS = ("train", "dev", "test")
SMALL_PAPER = {"asr": {"fraction": 0.5}, "sid": {"k": 2}, "se": {"train": 3, "dev": 2}, "ss": {"train": 2, "dev": 2}}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpora")
    return write_all(root)


def cli(*argv: str) -> None:
    assert main(list(argv)) == 0


def prepare(task: str, settings: dict, out: Path) -> Path:
    cli("prepare", "--task", task, "--settings", json.dumps(settings), "--out-dir", str(out))
    return out


def sample(task: str, manifest_dir: Path, sampling: str, seed: int, out: Path, paper: dict | None = None) -> Path:
    cli("subsample", "--task", task, "--sampling", sampling, "--seed", str(seed),
        "--settings", json.dumps(paper if paper is not None else SMALL_PAPER[task]),
        "--manifest-dir", str(manifest_dir), "--out-dir", str(out))
    return out


def read_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def fails(capsys, *argv: str) -> str:
    """Run the CLI expecting a user error: exit status 2 and a message on stderr."""
    assert main(list(argv)) == 2
    return capsys.readouterr().err


# --- prepare, subsample, subset-stats ------------------------------------------------------------


@pytest.mark.parametrize(
    "task, labels",
    [("asr", {"transcript", "speaker"}), ("sid", {"speaker", "label"}), ("se", {"clean_path", "speaker"}),
     ("ss", {"source_paths", "speaker"})],
)
def test_prepare_writes_one_manifest_per_split_with_the_task_labels(tmp_path, corpora, task, labels):
    out = prepare(task, corpora[task], tmp_path / "manifest")
    assert sorted(path.name for path in out.iterdir()) == ["dev.jsonl", "test.jsonl", "train.jsonl"]
    for split in SPLITS:
        records = [json.loads(line) for line in (out / f"{split}.jsonl").read_text().splitlines()]
        assert records, split
        for record in records:
            assert {"id", "path", "num_samples", "sample_rate"} | labels <= set(record)
            assert Path(record["path"]).is_file() and record["num_samples"] > 0


def test_same_inputs_give_byte_identical_manifests_and_subsets(tmp_path, corpora):
    runs = []
    for attempt in ("one", "two"):
        manifest = prepare("sid", corpora["sid"], tmp_path / attempt / "manifest")
        subsets = sample("sid", manifest, "paper", 42, tmp_path / attempt / "paper" / "seed42")
        runs.append((read_bytes(manifest), read_bytes(subsets)))
    assert runs[0] == runs[1]
    assert runs[0][1]["train.txt"].decode().split()  # not trivially equal: both hold ids


def test_different_seeds_give_different_subset_lists(tmp_path, corpora):
    manifest = prepare("asr", corpora["asr"], tmp_path / "manifest")
    lists = {seed: (sample("asr", manifest, "paper", seed, tmp_path / f"seed{seed}") / "train.txt").read_text()
             for seed in (1, 2)}
    assert lists[1] != lists[2]
    assert len(lists[1].splitlines()) == len(lists[2].splitlines()) == 4  # half of the 8 utterances


def test_subset_stats_count_each_subset_and_their_union(tmp_path, corpora):
    manifest = prepare("se", corpora["se"], tmp_path / "se" / "manifest")
    subsets = tmp_path / "se" / "subsets"
    folders = [sample("se", manifest, name, seed, subsets / name / f"seed{seed}")
               for name, seed in (("paper", 1), ("paper", 2), ("k1", 1))]
    stats_path = tmp_path / "se" / "stats.json"
    cli("subset-stats", "--manifest-dir", str(manifest), "--subset-dirs", *map(str, folders), "--stats", str(stats_path))
    stats = json.loads(stats_path.read_text())
    for split in SPLITS:  # the union: what the feature views extract, each utterance once
        expected = set().union(*((folder / f"{split}.txt").read_text().split() for folder in folders))
        assert stats["extract"][split]["utterances"] == len(expected)
    assert set(stats["subsets"]) == {"paper/seed1", "paper/seed2", "k1/seed1"}
    assert stats["subsets"]["paper/seed1"]["train"]["utterances"] == 3
    records = [json.loads(line) for line in (manifest / "train.jsonl").read_text().splitlines()]
    assert stats["manifest"]["train"]["hours"] == pytest.approx(sum(r["num_samples"] for r in records) / 16000 / 3600)


# --- bad input: a clear message and exit status 2 ------------------------------------------------


def test_missing_corpus_root_fails_cleanly(tmp_path, capsys):
    err = fails(capsys, "prepare", "--task", "sid", "--settings", json.dumps({"root": str(tmp_path / "gone")}),
                "--out-dir", str(tmp_path / "out"))
    assert "data.sid.root" in err and "does not exist" in err
    assert not (tmp_path / "out").exists()


def test_invalid_settings_fail_cleanly(tmp_path, capsys, corpora):
    assert "not valid JSON" in fails(capsys, "prepare", "--task", "asr", "--settings", "{root: x}", "--out-dir", str(tmp_path))
    err = fails(capsys, "prepare", "--task", "ss", "--settings", json.dumps({**corpora["ss"], "rate": "wav44k"}),
                "--out-dir", str(tmp_path))
    assert "key 'data.ss.rate'" in err
    err = fails(capsys, "subsample", "--task", "sid", "--sampling", "paper", "--seed", "1", "--settings", '{"k": 0}',
                "--manifest-dir", str(tmp_path), "--out-dir", str(tmp_path / "s"))
    assert "key 'sampling.paper.sid.k'" in err


def test_bad_sampling_and_short_speakers_fail_cleanly(tmp_path, capsys, corpora):
    manifest = prepare("sid", corpora["sid"], tmp_path / "manifest")
    args = ["--seed", "1", "--settings", "{}", "--manifest-dir", str(manifest), "--out-dir", str(tmp_path / "s")]
    assert "unknown sampling 'half'" in fails(capsys, "subsample", "--task", "sid", "--sampling", "half", *args)
    err = fails(capsys, "subsample", "--task", "sid", "--sampling", "k5", *args)
    assert "fewer than k=5" in err and "Lower k to at most 4" in err
    assert not (tmp_path / "s").exists()


def test_stale_subset_list_fails_cleanly(tmp_path, capsys, corpora):
    manifest = prepare("ss", corpora["ss"], tmp_path / "manifest")
    folder = sample("ss", manifest, "full", 1, tmp_path / "full" / "seed1")
    subset = {split: read_subset_list(folder, split) for split in SPLITS}
    write_subset({**subset, "dev": [*subset["dev"], "not-an-utterance"]}, folder)  # its record agrees
    err = fails(capsys, "subset-stats", "--manifest-dir", str(manifest), "--subset-dirs", str(folder),
                "--stats", str(tmp_path / "stats.json"))
    assert "not in the manifest" in err and "full/seed1 dev" in err


def _cut_at_a_line_end(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[: len(lines) // 2]))


def _cut_mid_line(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-3])


def _one_id_replaced(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join([*lines[:-1], "someone-else\n"]))


def _record_deleted(path: Path) -> None:
    (path.parent / SUBSET_RECORD).unlink()


def _record_cut(path: Path) -> None:
    record = path.parent / SUBSET_RECORD
    record.write_bytes(record.read_bytes()[:20])


@pytest.mark.parametrize("damage, problem, damaged_file", [
    (_cut_at_a_line_end, r"is damaged: it lists {half} ids, but `subsample` wrote {whole} \(as lists.json beside it records\)",
     "train.txt"),
    (_cut_mid_line, r"is damaged: its last line \('.*'\) has no newline", "train.txt"),
    (_one_id_replaced, r"is damaged: its ids differ from the ones `subsample` wrote", "train.txt"),
    (_record_deleted, r"does not exist: it records the length and checksum of each subset list", SUBSET_RECORD),
    (_record_cut, r"is damaged: it is not valid JSON", SUBSET_RECORD),
])
def test_a_damaged_subset_list_is_refused_by_every_reader(tmp_path, capsys, corpora, damage, problem, damaged_file):
    """subset-stats and training read the lists through one check against the record
    `subsample` writes: a list cut at a line end (a shorter, valid list) is refused too."""
    manifest = prepare("asr", corpora["asr"], tmp_path / "manifest")
    folder = sample("asr", manifest, "full", 1, tmp_path / "full" / "seed1")
    whole = json.loads((folder / SUBSET_RECORD).read_text())["train"]["ids"]
    assert whole == len(read_subset_list(folder, "train")) >= 2
    damage(folder / "train.txt")
    problem = problem.format(half=whole // 2, whole=whole)
    expected = rf"{re.escape(str(folder / damaged_file))} .*{problem}.*snakemake data --forcerun prepare"

    err = fails(capsys, "subset-stats", "--manifest-dir", str(manifest), "--subset-dirs", str(folder),
                "--stats", str(tmp_path / "stats.json"))
    assert re.search(expected, " ".join(err.split())), err
    assert not (tmp_path / "stats.json").exists()
    with pytest.raises(MinisuperbError) as refused:
        load_split(manifest, folder, "train")
    assert re.search(expected, str(refused.value)), refused.value


# --- rules: Snakemake dry runs -------------------------------------------------------------------


def repo_config(name: str = "config.yaml") -> dict:
    """A shipped config as Snakemake sees it: a --configfile replaces config/config.yaml."""
    return yaml.safe_load((REPO / "config" / name).read_text())


def rules_of(jobs) -> dict[str, int]:
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.rule] = counts.get(job.rule, 0) + 1
    return counts


def test_dry_run_of_the_paper_config_on_real_layouts_plans_the_data_jobs(tmp_path, corpora):
    config = repo_config("minisuperb.yaml")
    for task, settings in corpora.items():
        config["data"][task]["root"] = settings["root"]
    config["runs"] = [{"protocol": "minisuperb", "sampling": "paper"}, {"protocol": "minisuperb", "sampling": "frac0.05"}]
    config["sampling"]["seeds"] = [42, 7]
    jobs = dry_run(tmp_path / "work", config, targets=["data"])
    assert rules_of(jobs) == {"prepare": 4, "subsample": 16, "check_subset": 16, "subset_stats": 4, "data": 1}  # no demo corpus
    prepare_se = next(job for job in jobs if job.rule == "prepare" and job.wildcards["task"] == "se")
    assert json.loads(prepare_se.params["settings"]) == config["data"]["se"]  # only its task's slice
    samplings = {(job.wildcards["task"], job.wildcards["sampling"], job.wildcards["seed"]) for job in jobs if job.rule == "subsample"}
    assert ("sid", "frac0.05", "7") in samplings and ("ss", "paper", "42") in samplings
    subsample_sid = next(job for job in jobs if job.rule == "subsample" and job.wildcards["task"] == "sid")
    assert json.loads(subsample_sid.params["settings"]) == {"k": 11}


def test_dry_run_of_the_demo_config_plans_the_demo_corpus_first(tmp_path):
    jobs = dry_run(tmp_path / "work", repo_config(), targets=["results/data/asr/stats.json"])
    # one subsample job per sampling of the demo runs (paper and full)
    assert rules_of(jobs) == {"demo_corpus": 1, "prepare": 1, "subsample": 2, "check_subset": 2, "subset_stats": 1}


def test_dry_run_refuses_an_unknown_sampling_before_any_job(tmp_path, corpora):
    config = repo_config()
    config["runs"] = [{"protocol": "demo", "sampling": "frac2"}]
    with pytest.raises(Exception, match=r"sampling 'frac2'"):
        dry_run(tmp_path / "work", config, targets=["data"])


@pytest.mark.parametrize(
    "section, key",
    [({"sampling": {"seeds": [-1]}}, "sampling.seeds.0"), ({"sampling": {"paper": {"se": {"trian": 5}}}}, "sampling.paper.se"),
     ({"data": {"sid": {"split_file": "x"}}}, "data.sid"), ({"data": {"ss": {"root": "x", "mode": "mean"}}}, "data.ss.mode")],
)
def test_invalid_data_config_names_the_key(section, key):
    with pytest.raises(MinisuperbError, match=f"key '{key}'"):
        validate_config({**repo_config(), **section})


def test_check_subset_writes_the_record_of_intact_lists_and_refuses_a_cut_one(tmp_path, capsys, corpora):
    manifest = prepare("asr", corpora["asr"], tmp_path / "manifest")
    folder = sample("asr", manifest, "full", 1, tmp_path / "full" / "seed1")
    cli("check-subset", "--subset-dir", str(folder), "--out", str(tmp_path / "checked.json"))
    assert json.loads((tmp_path / "checked.json").read_text()) == json.loads((folder / SUBSET_RECORD).read_text())
    _cut_at_a_line_end(folder / "train.txt")
    err = fails(capsys, "check-subset", "--subset-dir", str(folder), "--out", str(tmp_path / "again.json"))
    assert "train.txt is damaged" in " ".join(err.split()) and not (tmp_path / "again.json").exists()

"""The Snakemake profiles (profiles/local, profiles/slurm) as Snakemake reads them, with the
settings from the environment (minisuperb.profiles). No cluster needed: tests/test_slurm.py runs
the SLURM profile on a real one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.api import SnakemakeApi
from snakemake.settings.enums import Quietness
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings
from snakemake.profiles import ProfileConfigFileParser

from minisuperb import profiles

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
SETTINGS = ("MINISUPERB_SLURM_PARTITION", "MINISUPERB_SLURM_ACCOUNT", "MINISUPERB_SLURM_GPUS", "MINISUPERB_GPUS")


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch):
    """Start each test from a user who set nothing, on a machine without GPUs."""
    for variable in SETTINGS:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")


def read_profile(name: str) -> dict:
    """The command-line arguments Snakemake derives from profiles/<name>/config.yaml."""
    with open(REPO / "profiles" / name / "config.yaml") as stream:
        return ProfileConfigFileParser().parse(stream)


def gpu_requests(profile: dict) -> dict[str, str]:
    """rule -> its `gpu` resource, from the profile's set-resources entries."""
    requests = {}
    for entry in profile.get("set-resources", []):
        rule, assignment = entry.split(":", 1)
        resource, value = assignment.split("=", 1)
        if resource == "gpu":
            requests[rule] = value
    return requests


def workflow_rules() -> set[str]:
    return {
        name
        for path in (REPO / "rules").glob("*.smk")
        for name in re.findall(r"^(?:rule|checkpoint) (\w+):", path.read_text(), flags=re.MULTILINE)
    }


@pytest.mark.parametrize("name", ["local", "slurm"])
def test_gpu_requests_name_the_extraction_and_training_rules(monkeypatch, name):
    """Snakemake ignores set-resources of unknown rules: a renamed rule would silently lose its GPU."""
    monkeypatch.setenv("MINISUPERB_SLURM_PARTITION", "debug")
    rules = workflow_rules()
    assert {"extract", "train"} <= rules
    assert set(gpu_requests(read_profile(name))) == {"extract", "train"}


# --- SLURM ----------------------------------------------------------------------------------------


def test_slurm_profile_takes_partition_account_and_gpus_from_the_environment(monkeypatch):
    monkeypatch.setenv("MINISUPERB_SLURM_PARTITION", "gpu-short")
    monkeypatch.setenv("MINISUPERB_SLURM_ACCOUNT", "speechlab")
    profile = read_profile("slurm")
    assert profile["executor"] == "slurm"
    assert "slurm_partition=gpu-short" in profile["default-resources"]
    assert "slurm_account=speechlab" in profile["default-resources"]
    # GPU jobs ask for one GPU by default; no default resource gives CPU jobs one.
    requests = gpu_requests(profile)
    assert requests and set(requests.values()) == {"1"}
    assert not any(entry.startswith("gpu=") for entry in profile["default-resources"])
    assert int(profile["retries"]) >= 1 and int(profile["latency-wait"]) >= 30


def test_slurm_gpus_per_job_can_be_zero_for_clusters_without_gpus(monkeypatch):
    monkeypatch.setenv("MINISUPERB_SLURM_PARTITION", "debug")
    monkeypatch.setenv("MINISUPERB_SLURM_GPUS", "0")
    assert set(gpu_requests(read_profile("slurm")).values()) == {"0"}


def test_slurm_profile_without_partition_says_what_to_set(tmp_path):
    """Through the real command line: Snakemake stops before planning anything."""
    (tmp_path / "Snakefile").write_text('rule a:\n    output: "a.txt"\n    shell: "touch {output}"\n')
    environment = {key: value for key, value in os.environ.items() if key not in SETTINGS}
    result = subprocess.run(
        [str(SNAKEMAKE), "--profile", str(REPO / "profiles" / "slurm"), "-n"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "The SLURM partition is not set" in last_line
    assert "export MINISUPERB_SLURM_PARTITION=<name>" in last_line
    assert not (tmp_path / "a.txt").exists()


@pytest.mark.parametrize("value", ["two", "-1", "1.5"])
def test_a_gpu_count_that_is_not_a_count_is_named(monkeypatch, value):
    monkeypatch.setenv("MINISUPERB_SLURM_PARTITION", "debug")
    monkeypatch.setenv("MINISUPERB_SLURM_GPUS", value)
    with pytest.raises(Exception, match=f"MINISUPERB_SLURM_GPUS='{value}' is not a count"):
        read_profile("slurm")


# --- one machine ----------------------------------------------------------------------------------


def test_local_profile_without_gpus_runs_gpu_jobs_on_cpu_unthrottled(capsys):
    profile = read_profile("local")
    assert profile["resources"] == ["gpu=0"]
    assert set(gpu_requests(profile).values()) == {"0"}
    assert "warning" not in capsys.readouterr().err


def test_local_profile_gives_each_gpu_job_one_of_the_visible_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    profile = read_profile("local")
    assert profile["resources"] == ["gpu=2"]  # at most two GPU jobs at a time
    assert set(gpu_requests(profile).values()) == {"1"}


def test_local_profile_asked_for_a_gpu_it_lacks_warns_and_runs_on_cpu(monkeypatch, capsys):
    monkeypatch.setenv("MINISUPERB_GPUS", "1")
    profile = read_profile("local")
    assert profile["resources"] == ["gpu=1"]
    warning = capsys.readouterr().err
    assert "MINISUPERB_GPUS=1 but this machine shows 0 GPU(s)" in warning
    assert "will run on CPU" in warning


@pytest.mark.parametrize(
    ("mask", "expected"), [("", 0), ("0", 1), ("0,1,2", 3), ("-1", 0), ("1,-1,0", 1), ("GPU-5d1c,GPU-77aa", 2)]
)
def test_visible_gpus_follows_cuda_visible_devices(monkeypatch, mask, expected):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", mask)
    assert profiles.visible_gpus() == expected


def test_visible_gpus_counts_the_driver_listing_without_a_mask(monkeypatch, tmp_path):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    for bus_id in ("0000:17:00.0", "0000:65:00.0"):
        (tmp_path / bus_id).mkdir()
    monkeypatch.setattr(profiles, "NVIDIA_GPU_DIR", tmp_path)
    assert profiles.visible_gpus() == 2
    monkeypatch.setattr(profiles, "NVIDIA_GPU_DIR", tmp_path / "absent")
    assert profiles.visible_gpus() == 0


# --- conda environment (--sdm conda) ---------------------------------------------------------------
# conda is not installed here: these tests check the file's structure and pins, not an install.

def test_conda_post_deploy_script_installs_the_workflow_package():
    script = REPO / "envs" / "minisuperb.post-deploy.sh"  # Snakemake finds it by this name
    assert os.access(script, os.X_OK)
    assert "pip install --no-deps --editable" in script.read_text()


def test_every_job_runs_in_the_pinned_environment_under_sdm_conda(tmp_path):
    """`--sdm conda` uses a rule's own `conda:` directive (a global one would only inject the
    environment into Snakemake itself), so every rule that runs a command must name the file."""
    config = tmp_path / "config.yaml"
    config.write_text((REPO / "config" / "config.yaml").read_text())
    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[config]),
            snakefile=REPO / "Snakefile",
            workdir=tmp_path,
        )
        environments = {rule.name: rule.conda_env for rule in workflow_api._workflow.rules if rule.shellcmd}
    assert environments
    without = sorted(name for name, env in environments.items() if not str(env or "").endswith("envs/minisuperb.yaml"))
    assert not without, f"rules without `conda: \"../envs/minisuperb.yaml\"`: {without}"

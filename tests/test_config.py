"""Config validation: defaults are filled in, and a wrong key or type names the key."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from minisuperb.config import load_config, load_schema, validate_config
from minisuperb.errors import MinisuperbError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["config.yaml", "minisuperb.yaml"])
def test_shipped_configs_are_valid(name):
    config = load_config(REPO / "config" / name)
    assert set(config["tasks"]) <= {"asr", "sid", "se", "ss"}
    assert config["models"], "a config without models has nothing to evaluate"


def test_defaults_are_filled_in():
    config = load_config(REPO / "config" / "config.yaml")
    config.pop("results")
    validate_config(config)
    assert config["results"] == "results"


def test_unknown_top_level_key_is_named():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["modles"] = {}
    with pytest.raises(MinisuperbError, match="'modles': did you mean 'models'"):
        validate_config(config)


def test_a_config_error_names_the_file_passed_with_configfile(tmp_path):
    """Snakemake's own error output names the user's file, not the demo config it replaced."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["extraction"]["treads"] = 2
    path = tmp_path / "my_run.yaml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [Path(sys.executable).with_name("snakemake"), "-n", "--cores", "1", "-s", REPO / "Snakefile",
         "--configfile", path, "-d", tmp_path], capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert f"invalid configuration in {path}" in result.stderr + result.stdout
    assert "'treads': did you mean 'threads'" in result.stderr + result.stdout


def test_wrong_type_names_the_nested_key():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["tasks"] = ["asr", "tts"]
    with pytest.raises(MinisuperbError, match=r"key 'tasks\.1'"):
        validate_config(config)


def test_each_top_level_key_is_owned_by_one_schema_file():
    schema = load_schema()
    assert {"results", "tasks", "models"} <= set(schema["properties"])


def test_snakemake_refuses_an_invalid_config_before_any_job(tmp_path):
    """The Snakefile validates at parse time: a dry run with a bad key fails, naming it."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--snakefile", str(REPO / "Snakefile"),
         "--directory", str(tmp_path), "--configfile", str(REPO / "config" / "config.yaml"),
         "--config", "tasks=[bogus]"],
        capture_output=True, text=True, cwd=REPO,
    )
    assert result.returncode != 0
    assert "tasks" in result.stdout + result.stderr

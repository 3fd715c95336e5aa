# Helpers shared by the stage rule files.
import json

# Under `--sdm conda` every job runs in this pinned environment (the path is relative to the
# rule files); without it the directive is ignored and jobs use the current environment.
JOB_ENV = "../envs/minisuperb.yaml"


def as_json(value):
    """Pass one slice of the config to a job as a JSON string.

    A rule's `params` are part of its rerun trigger, so each job gets only its own model's and
    task's settings: editing one model reruns only that model's jobs.
    """
    return json.dumps(value, sort_keys=True)


def log_path(*parts):
    return f"{RESULTS}/logs/" + "/".join(parts) + ".log"


# The data files every stage reads (layout: docs/ARCHITECTURE.md).
DATA_SPLITS = ("train", "dev", "test")


def manifest_dir(task):
    return f"{RESULTS}/data/{task}/manifest"


def manifests(task):
    return [f"{manifest_dir(task)}/{split}.jsonl" for split in DATA_SPLITS]


def subset_dir(task, sampling, seed):
    return f"{RESULTS}/data/{task}/subsets/{sampling}/seed{seed}"

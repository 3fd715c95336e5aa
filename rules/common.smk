# The one owner of the workflow's functions: the paths of every file the stages exchange (layout:
# docs/ARCHITECTURE.md), the slice of the config each job gets, and the targets of each stage.
# Each path function returns the wildcard pattern when called without arguments (for a rule's
# output) and a concrete path when given values (for another rule's input).
import functools
import json
import os

from minisuperb.catalog import SPLITS
from minisuperb.corpora.manifest import SUBSET_RECORD
from minisuperb.corpora.sampling import parse_sampling
from minisuperb.downstream.protocols import PRESETS_PATH, load_presets, resolve_settings
from minisuperb.errors import MinisuperbError
from minisuperb.upstreams.registry import check_entry, feature_settings, model_version, task_entry

# Under `--sdm conda` every job runs in this pinned environment (the path is relative to the
# rule files); without it the directive is ignored and jobs use the current environment.
JOB_ENV = "../envs/minisuperb.yaml"

DEMO_CORPUS = f"{RESULTS}/data/corpus/demo"
DEMO_MODEL_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")
REPORT_DIR = f"{RESULTS}/report"
PROTOCOL_PRESETS = load_presets()
PROTOCOL_PRESETS_FILE = str(PRESETS_PATH)


# --- paths ---------------------------------------------------------------------------------------


def log_path(*parts):
    return os.path.join(RESULTS, "logs", *parts) + ".log"


def demo_corpus_marker():
    return f"{DEMO_CORPUS}/demo_corpus.json"


def manifest(task="{task}", split="{split}"):
    return f"{RESULTS}/data/{task}/manifest/{split}.jsonl"


def manifests(task="{task}"):
    return [manifest(task, split) for split in SPLITS]


def subset_lists(task="{task}", sampling="{sampling}", seed="{seed}"):
    """The subset folder's files: a list per split, then the record of their lengths and sha256
    (SUBSET_RECORD) that every reader checks the lists against."""
    folder = f"{RESULTS}/data/{task}/subsets/{sampling}/seed{seed}"
    return [*(f"{folder}/{split}.txt" for split in SPLITS), f"{folder}/{SUBSET_RECORD}"]


def checked_subset(task="{task}", sampling="{sampling}", seed="{seed}"):
    """The record `check-subset` writes once the folder's lists pass their check; the jobs that
    read the lists take it as input, so a damaged list fails there, before Snakemake removes
    their finished outputs to rerun them."""
    return f"{RESULTS}/data/{task}/subsets/{sampling}/seed{seed}/checked.json"


def data_stats(task="{task}"):
    return f"{RESULTS}/data/{task}/stats.json"


def demo_model_files(model="{model}"):
    return [f"{RESULTS}/models/{model}/{name}" for name in DEMO_MODEL_FILES]


def feature_summary(model="{model}", task="{task}", sampling="{sampling}", seed="{seed}"):
    return f"{RESULTS}/features/{model}/{task}/{sampling}/seed{seed}.json"


def feature_store(model="{model}", task="{task}", sampling="{sampling}", seed="{seed}"):
    """A feature view: the Zarr store of one subset's utterances. An output of its extraction
    and an input of training, so that a store moved away or deleted is planned again rather than
    failing inside training. The views of one (model, task) share their utterances
    (minisuperb.store.reuse): a new view extracts only what none holds."""
    return f"{RESULTS}/features/{model}/{task}/{sampling}/seed{seed}.zarr"


def metrics_file(
    protocol="{protocol}",
    sampling="{sampling}",
    seed="{seed}",
    train_seed="{train_seed}",
    model="{model}",
    task="{task}",
):
    """`seed` drew the subset lists (sampling.seeds); `train_seed` initialised the head (downstream.train_seeds)."""
    return f"{RESULTS}/downstream/{protocol}/{sampling}/seed{seed}/train{train_seed}/{model}/{task}/metrics.json"


def report_file(name):
    return f"{REPORT_DIR}/{name}"


def parent_dir(path):
    """A folder argument derived from a rule's file, so that no param hardcodes a path prefix."""
    return os.path.dirname(path)


# --- each job's slice of the config ----------------------------------------------------------


def as_json(value):
    """Pass one slice of the config to a job as a JSON string.

    A rule's `params` are part of its rerun trigger, so each job gets only its own model's and
    task's settings: editing one model reruns only that model's jobs.
    """
    return json.dumps(value, sort_keys=True)


def data_settings(task):
    if task not in config.get("data", {}):
        raise MinisuperbError(
            f"`tasks` lists {task} but the config has no `data: {task}:` section with the corpus "
            "root. Add it (see config/minisuperb.yaml) or drop the task from `tasks`."
        )
    return config["data"][task]


def demo_marker(task):
    """The demo corpus (its completion marker) when the task's corpus root lies inside it."""
    root, demo = os.path.abspath(data_settings(task)["root"]), os.path.abspath(DEMO_CORPUS)
    return [demo_corpus_marker()] if os.path.commonpath([root, demo]) == demo else []


@functools.cache
def configured_runs():
    """`runs` with each run's tasks, seeds and train_seeds (its own, else the global ones),
    checked now so that a typo fails before any job: a sampling name, a task outside `tasks`, a
    (protocol, sampling) listed twice. Built once: input functions call it for every job."""
    runs, seen = [], set()
    for run in config["runs"]:
        key = (run["protocol"], run["sampling"])
        if key in seen:
            raise MinisuperbError(
                f"config key runs lists protocol {key[0]} with sampling {key[1]} twice; merge the two "
                "entries (their tasks, seeds and train_seeds) into one."
            )
        seen.add(key)
        if run["sampling"] != "paper":
            parse_sampling(run["sampling"])
        unknown = [task for task in run.get("tasks", []) if task not in config["tasks"]]
        if unknown:
            raise MinisuperbError(
                f"config key runs ({key[0]}/{key[1]}) names task(s) {', '.join(unknown)}, which "
                f"`tasks` ({', '.join(config['tasks'])}) does not list; add them there or drop them."
            )
        runs.append(
            {
                **run,
                "tasks": run.get("tasks", config["tasks"]),
                "seeds": run.get("seeds", config["sampling"]["seeds"]),
                "train_seeds": run.get("train_seeds", config["downstream"]["train_seeds"]),
            }
        )
    return runs


def configured_subset_lists(task):
    """The subset lists of every configured (sampling, seed) of a task (runs of the task only)."""
    return [path for sampling, seed in configured_views(task) for path in subset_lists(task, sampling, seed)]


def configured_checks(task):
    return [checked_subset(task, sampling, seed) for sampling, seed in configured_views(task)]


def configured_views(task):
    """The distinct (sampling, seed) of the task's runs: its subset folders, and for each model
    a feature view (a store of that subset's utterances)."""
    pairs = {
        (run["sampling"], seed): None for run in configured_runs() if task in run["tasks"] for seed in run["seeds"]
    }
    return list(pairs)


def paper_id_lists(task):
    """The id files a task's `sampling.paper.<task>.ids` names: inputs of its subsample jobs, so
    that editing a list redraws the subsets."""
    return list(config["sampling"]["paper"][task].get("ids", {}).values())


def model_entry(model, task):
    """The model's config entry as the task's extraction sees it: its `tasks.<task>` overrides
    merged in (e.g. FBANK without CMVN for SID); a demo model's `path` is the directory the
    workflow makes."""
    entry = task_entry(config["models"][model], task)
    if "demo_model" in entry:
        entry["path"] = parent_dir(demo_model_files(model)[0])
    return entry


def model_files(model):
    """The files a model's extraction needs from the workflow: a demo model's weights."""
    return demo_model_files(model) if "demo_model" in config["models"][model] else []


@functools.cache
def features_version(model, task):
    """The model version (weights fingerprint, feature packages) of a (model, task): a param of
    its extraction jobs, so that weights replaced at the same path rerun them. A demo model's weights are left out: the workflow makes
    them, so they do not exist yet when the first run plans, and their rule's output times
    already trigger the reruns."""
    entry = model_entry(model, task)
    if model_files(model):
        entry.pop("path")
    return as_json(model_version(entry))


def batch_seconds_option(model):
    """The model's own budget, else the global one, else none: the job picks one for its device."""
    seconds = config["models"][model].get("batch_seconds") or config["extraction"]["batch_seconds"]
    return f"--batch-seconds {seconds}" if seconds else ""


@functools.cache
def downstream_settings(protocol, task):
    """Resolved once per (protocol, task), not once per job: planning 1,000+ training jobs
    otherwise re-reads the presets file for each (bench/bench_plan.py)."""
    return resolve_settings(protocol, task, config["protocols"], PROTOCOL_PRESETS)


@functools.cache
def report_settings():
    """The `report:` section, with the MiniSUPERB run defaulting to the first configured run;
    a mini or full run that is not configured fails here, before any job starts. Checked once."""
    runs = [{key: run[key] for key in ("protocol", "sampling")} for run in config["runs"]]
    settings = dict(config["report"], mini_run=config["report"]["mini_run"] or runs[0])
    for key in ("mini_run", "full_run"):
        if settings[key] and settings[key] not in runs:
            raise MinisuperbError(
                f"config key report.{key} is {settings[key]}, which is not one of `runs` ({runs}). "
                "Add that run to `runs`, or change the key."
            )
    check_studies(settings["studies"], runs, settings["full_run"])
    for expectation in settings["expectations"]:
        unknown = [
            name
            for name in [expectation["beats"], expectation.get("model"), *expectation.get("none_of", [])]
            if name is not None and name not in config["models"]
        ]
        if unknown:
            raise MinisuperbError(
                f"config key report.expectations names model(s) {', '.join(unknown)}, which `models` does not "
                "list; fix the name or drop the expectation."
            )
    return settings


def check_studies(studies, runs, full_run):
    """A configured study (report.studies) whose runs are not configured fails before any job."""
    problems = []
    if studies.get("seeds") and studies["seeds"] not in runs:
        problems.append(f"studies.seeds is {studies['seeds']}, which is not one of `runs`")
    for name, prefixes in (("fractions", ("frac",)), ("few_shot", ("k", "min"))):
        if studies.get(name):
            protocol = studies[name]["protocol"]
            if not any(r["protocol"] == protocol and r["sampling"].startswith(prefixes) for r in runs):
                problems.append(f"studies.{name}: no run of protocol {protocol} samples {' or '.join(prefixes)}<...>")
    needs_full = [name for name in ("fractions", "task_subsets", "few_shot") if studies.get(name)]
    if needs_full and not full_run:
        problems.append(f"studies {', '.join(needs_full)} compare with report.full_run, which is not set")
    if problems:
        raise MinisuperbError(f"config key report: {'; '.join(problems)}. Add the runs or drop the study.")


def study_figures():
    """{study: its figure} of each study report.studies configures (figures/study_<name>.png)."""
    return {
        f"study_{name}": report_file(f"figures/study_{name}.png")
        for name, value in config["report"]["studies"].items()
        if value
    }


def model_references():
    """Config model name -> its row name in the SUPERB tables (None: not in them)."""
    return {name: entry.get("reference") for name, entry in config["models"].items()}


def report_stats():
    """{task: its stats.json}, as `minisuperb report --stats` takes them: the hours of the subsets."""
    return {task: data_stats(task) for task in config["tasks"]}


def summary_view(task):
    """The view whose extraction summary the report reads for a task: the mini run's first seed
    (what a MiniSUPERB evaluation extracts), else the task's first view."""
    mini = report_settings()["mini_run"]
    for run in configured_runs():
        if run["protocol"] == mini["protocol"] and run["sampling"] == mini["sampling"] and task in run["tasks"]:
            return run["sampling"], run["seeds"][0]
    return configured_views(task)[0]


def report_summaries():
    """{model: {task: its extraction summary}}, as `minisuperb report --feature-summaries` takes them."""
    return {
        model: {task: feature_summary(model, task, *summary_view(task)) for task in config["tasks"]}
        for model in config["models"]
    }


# --- targets of each stage -------------------------------------------------------------------


def data_targets():
    return [path for task in config["tasks"] for path in [*configured_subset_lists(task), data_stats(task)]]


def feature_targets():
    """Every feature view's summary (model x task x its configured (sampling, seed)); each entry
    is checked here, so that an unknown loader or model name fails while planning, before any
    job starts."""
    for model in config["models"]:
        for task in config["tasks"]:
            check_entry(model_entry(model, task), f"config key models.{model} (task {task})")
    return [
        feature_summary(model, task, sampling, seed)
        for model in config["models"]
        for task in config["tasks"]
        for sampling, seed in configured_views(task)
    ]


def downstream_targets():
    """Every metrics.json of every run x its sampling seeds x its training seeds x model x its
    tasks; resolving the settings here makes an unknown protocol or setting fail before any job
    starts."""
    paths = []
    for run in configured_runs():
        for task in run["tasks"]:
            downstream_settings(run["protocol"], task)
            paths += [
                metrics_file(run["protocol"], run["sampling"], seed, train_seed, model, task)
                for seed in run["seeds"]
                for train_seed in run["train_seeds"]
                for model in config["models"]
            ]
    return paths


def report_targets():
    return [
        f"{REPORT_DIR}/{name}" for name in ("scores.csv", "correlation.json", "cost.csv", "report.md", "report.html")
    ]


def all_targets():
    return data_targets() + feature_targets() + downstream_targets() + report_targets()

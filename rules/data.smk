# data stage: (demo corpus) -> manifests per task -> subset lists per (task, sampling, seed) ->
# the extraction list and hours per task. Each job gets only its task's slice of the config
# (`data.<task>`, `sampling.paper.<task>`), so editing one corpus reruns only that task's jobs.
import os

from minisuperb.corpora.sampling import SAMPLING_WILDCARD, parse_sampling
from minisuperb.errors import MinisuperbError

DEMO_CORPUS = f"{RESULTS}/data/corpus/demo"


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
    return [f"{DEMO_CORPUS}/demo_corpus.json"] if os.path.commonpath([root, demo]) == demo else []


def run_samplings():
    """The distinct sampling names of `runs`, checked now so that a typo fails before any job."""
    names = list(dict.fromkeys(run["sampling"] for run in config["runs"]))
    for name in names:
        if name != "paper":
            parse_sampling(name)
    return names


def subset_dirs(task):
    """The subset folder of every configured (sampling, seed) of a task."""
    return [subset_dir(task, sampling, seed) for sampling in run_samplings() for seed in config["sampling"]["seeds"]]


def subset_lists(task):
    return [f"{folder}/{split}.txt" for folder in subset_dirs(task) for split in DATA_SPLITS]


rule demo_corpus:
    output:
        f"{DEMO_CORPUS}/demo_corpus.json",
    params:
        settings=as_json(config.get("demo", {})),
        out=DEMO_CORPUS,
    conda:
        JOB_ENV
    log:
        log_path("data", "demo_corpus"),
    threads: 1
    shell:
        "minisuperb demo-corpus --out {params.out:q} --settings {params.settings:q} > {log} 2>&1"


rule prepare:
    input:
        lambda w: demo_marker(w.task),
    output:
        [f"{RESULTS}/data/{{task}}/manifest/{split}.jsonl" for split in DATA_SPLITS],
    wildcard_constraints:
        task=r"asr|sid|se|ss",
    params:
        settings=lambda w: as_json(data_settings(w.task)),
        out_dir=lambda w: manifest_dir(w.task),
    conda:
        JOB_ENV
    log:
        log_path("data", "prepare", "{task}"),
    threads: 1  # header reads: ~0.1 ms a file on a local disk; raise with --set-threads prepare=N on network file systems
    shell:
        "minisuperb prepare --task {wildcards.task} --settings {params.settings:q}"
        " --out-dir {params.out_dir:q} --threads {threads} > {log} 2>&1"


rule subsample:
    input:
        lambda w: manifests(w.task),
    output:
        [f"{RESULTS}/data/{{task}}/subsets/{{sampling}}/seed{{seed}}/{split}.txt" for split in DATA_SPLITS],
    wildcard_constraints:
        task=r"asr|sid|se|ss",
        sampling=SAMPLING_WILDCARD,
        seed=r"[0-9]+",
    params:
        settings=lambda w: as_json(config["sampling"]["paper"][w.task]),
        manifest_dir=lambda w: manifest_dir(w.task),
        out_dir=lambda w: subset_dir(w.task, w.sampling, w.seed),
    conda:
        JOB_ENV
    log:
        log_path("data", "subsample", "{task}", "{sampling}", "seed{seed}"),
    threads: 1
    shell:
        "minisuperb subsample --task {wildcards.task} --sampling {wildcards.sampling} --seed {wildcards.seed}"
        " --settings {params.settings:q} --manifest-dir {params.manifest_dir:q} --out-dir {params.out_dir:q}"
        " > {log} 2>&1"


rule extract_list:
    input:
        manifests=lambda w: manifests(w.task),
        subsets=lambda w: subset_lists(w.task),
    output:
        extract=f"{RESULTS}/data/{{task}}/subsets/extract.txt",
        stats=f"{RESULTS}/data/{{task}}/stats.json",
    wildcard_constraints:
        task=r"asr|sid|se|ss",
    params:
        manifest_dir=lambda w: manifest_dir(w.task),
        subset_dirs=lambda w: subset_dirs(w.task),
    conda:
        JOB_ENV
    log:
        log_path("data", "extract_list", "{task}"),
    threads: 1
    shell:
        "minisuperb extract-list --manifest-dir {params.manifest_dir:q} --subset-dirs {params.subset_dirs:q}"
        " --out {output.extract:q} --stats {output.stats:q} > {log} 2>&1"


DATA_TARGETS = [
    path
    for task in config["tasks"]
    for path in [*subset_lists(task), f"{RESULTS}/data/{task}/subsets/extract.txt", f"{RESULTS}/data/{task}/stats.json"]
]


# `snakemake data`: only the data stage (demo corpus, manifests, subset lists, extraction lists).
rule data:
    input:
        DATA_TARGETS,


TARGETS += DATA_TARGETS

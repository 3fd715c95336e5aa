# features stage: (demo model) -> one extraction job per (model, task) -> a Zarr feature store,
# published by the job, and its summary JSON (the rule's output). Each job gets only its model's
# config entry, less the keys that do not change features (`reference`, `batch_seconds`), so
# adding or editing a model reruns only that model's jobs.
from minisuperb.upstreams.registry import feature_settings

DEMO_MODEL_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")


def model_entry(model):
    """The model's config entry; a demo model's `path` is the directory the workflow makes."""
    entry = dict(config["models"][model])
    if "demo_model" in entry:
        entry["path"] = f"{RESULTS}/models/{model}"
    return entry


def demo_model_files(model):
    return [f"{RESULTS}/models/{model}/{name}" for name in DEMO_MODEL_FILES] if "demo_model" in config["models"][model] else []


def batch_seconds_option(model):
    """The model's own budget, else the global one, else none: the job picks one for its device."""
    seconds = config["models"][model].get("batch_seconds") or config["extraction"]["batch_seconds"]
    return f"--batch-seconds {seconds}" if seconds else ""


rule demo_model:
    output:
        [f"{RESULTS}/models/{{model}}/{name}" for name in DEMO_MODEL_FILES],
    wildcard_constraints:
        model=r"[^/]+",
    params:
        demo=lambda w: config["models"][w.model]["demo_model"],
        out=lambda w: f"{RESULTS}/models/{w.model}",
    conda:
        JOB_ENV
    log:
        log_path("features", "demo_model", "{model}"),
    threads: 1
    shell:
        "minisuperb demo-model --kind {params.demo[kind]} --out {params.out:q} --seed {params.demo[seed]}"
        " --layers {params.demo[layers]} --dim {params.demo[dim]} --threads {threads} > {log} 2>&1"


rule extract:
    input:
        manifests=lambda w: manifests(w.task),
        ids=f"{RESULTS}/data/{{task}}/subsets/extract.txt",
        model=lambda w: demo_model_files(w.model),
    output:
        f"{RESULTS}/features/{{model}}/{{task}}.json",
    wildcard_constraints:
        model=r"[^/]+",
        task=r"asr|sid|se|ss",
    params:
        settings=lambda w: as_json(feature_settings(model_entry(w.model))),
        store=lambda w: f"{RESULTS}/features/{w.model}/{w.task}.zarr",
        manifest_dir=lambda w: manifest_dir(w.task),
        batch_seconds=lambda w: batch_seconds_option(w.model),
        device=config["extraction"]["device"],
    conda:
        JOB_ENV
    log:
        log_path("features", "extract", "{model}", "{task}"),
    threads: config["extraction"]["threads"]
    shell:
        "minisuperb extract --model {wildcards.model} --model-settings {params.settings:q} --task {wildcards.task}"
        " --manifest-dir {params.manifest_dir:q} --ids {input.ids:q} --out {params.store:q}"
        " --summary {output:q} --threads {threads} {params.batch_seconds} --device {params.device} > {log} 2>&1"


FEATURE_TARGETS = expand(f"{RESULTS}/features/{{model}}/{{task}}.json", model=list(config["models"]), task=config["tasks"])


# `snakemake features`: the data stage and every (model, task) feature store.
rule features:
    input:
        FEATURE_TARGETS,


TARGETS += FEATURE_TARGETS

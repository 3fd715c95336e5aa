# downstream stage: one training job per (protocol, sampling, seed, model, task) -> metrics.json.
# The job gets only its task's settings under its protocol (presets in config/protocols.yaml,
# overridden by the config's `protocols:`), so editing one task's settings reruns only its jobs.
import os

from minisuperb.protocols import resolve_settings


def downstream_settings(protocol, task):
    return resolve_settings(protocol, task, config["protocols"])


def downstream_metrics():
    """Every metrics.json of every run x seed x model x task; resolving the settings here makes
    an unknown protocol or setting fail before any job starts."""
    paths = []
    for run in config["runs"]:
        for task in config["tasks"]:
            downstream_settings(run["protocol"], task)
            paths += expand(
                f"{RESULTS}/downstream/{run['protocol']}/{run['sampling']}/seed{{seed}}/{{model}}/{task}/metrics.json",
                seed=config["sampling"]["seeds"], model=list(config["models"]),
            )
    return paths


rule train:
    input:
        summary=f"{RESULTS}/features/{{model}}/{{task}}.json",
        manifests=lambda w: manifests(w.task),
        subsets=lambda w: [f"{subset_dir(w.task, w.sampling, w.seed)}/{split}.txt" for split in DATA_SPLITS],
    output:
        f"{RESULTS}/downstream/{{protocol}}/{{sampling}}/seed{{seed}}/{{model}}/{{task}}/metrics.json",
    wildcard_constraints:
        protocol=r"[A-Za-z0-9_]+",
        sampling=r"[A-Za-z0-9_.]+",
        seed=r"\d+",
        model=r"[^/]+",
        task=r"asr|sid|se|ss",
    conda:
        JOB_ENV
    log:
        log_path("train", "{protocol}", "{sampling}", "seed{seed}", "{model}", "{task}"),
    params:
        settings=lambda w: as_json(downstream_settings(w.protocol, w.task)),
        store=lambda w: f"{RESULTS}/features/{w.model}/{w.task}.zarr",
        manifest_dir=lambda w: manifest_dir(w.task),
        subset_dir=lambda w: subset_dir(w.task, w.sampling, w.seed),
        out_dir=lambda w, output: os.path.dirname(output[0]),
        device=config["downstream"]["device"],
        workers=config["downstream"]["workers"],
    threads: config["downstream"]["threads"]
    shell:
        "minisuperb train --task {wildcards.task} --model {wildcards.model}"
        " --store {params.store:q} --store-summary {input.summary:q}"
        " --manifest-dir {params.manifest_dir:q} --subset-dir {params.subset_dir:q}"
        " --protocol {wildcards.protocol} --sampling {wildcards.sampling} --seed {wildcards.seed}"
        " --settings {params.settings:q} --out-dir {params.out_dir:q}"
        " --threads {threads} --device {params.device} --workers {params.workers} > {log} 2>&1"


DOWNSTREAM_TARGETS = downstream_metrics()
TARGETS += DOWNSTREAM_TARGETS

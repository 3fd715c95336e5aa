# downstream stage: one training job per (protocol, sampling, sampling seed, training seed, model,
# task) -> metrics.json.
# The job gets only its task's settings under its protocol (presets in config/protocols.yaml,
# overridden by the config's `protocols:`), so editing one task's settings reruns only its jobs.


rule train:
    input:
        summary=feature_summary(),
        store=feature_store(),
        manifests=lambda w: manifests(w.task),
        subsets=lambda w: subset_lists(w.task, w.sampling, w.seed),
        checked=lambda w: checked_subset(w.task, w.sampling, w.seed),
    output:
        metrics_file(),
    log:
        log_path("train", "{protocol}", "{sampling}", "seed{seed}", "train{train_seed}", "{model}", "{task}"),
    conda:
        JOB_ENV
    threads: config["downstream"]["threads"]
    params:
        settings=lambda w: as_json(downstream_settings(w.protocol, w.task)),
        manifest_dir=lambda w, input: parent_dir(input.manifests[0]),
        subset_dir=lambda w, input: parent_dir(input.subsets[0]),
        out_dir=lambda w, output: parent_dir(output[0]),
        device=config["downstream"]["device"],
        workers=config["downstream"]["workers"],
        item_memory_gb=config["downstream"]["item_memory_gb"],
    shell:
        "minisuperb train --task {wildcards.task} --model {wildcards.model}"
        " --store {input.store:q} --store-summary {input.summary:q}"
        " --manifest-dir {params.manifest_dir:q} --subset-dir {params.subset_dir:q}"
        " --protocol {wildcards.protocol} --sampling {wildcards.sampling}"
        " --seed {wildcards.seed} --train-seed {wildcards.train_seed}"
        " --settings {params.settings:q} --out-dir {params.out_dir:q}"
        " --threads {threads} --device {params.device} --workers {params.workers}"
        " --item-memory-gb {params.item_memory_gb} > {log} 2>&1"


# `snakemake downstream`: every training job of the configured runs (and what they need).
rule downstream:
    input:
        downstream_targets(),

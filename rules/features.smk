# features stage: (demo model) -> one extraction job per feature view (model, task, sampling,
# seed) -> a Zarr feature store of that subset's utterances, published by the job, and its
# summary JSON. A view copies what the other views of its (model, task) hold and extracts the
# rest, so adding a fraction, a seed or a run extracts only utterances no view has yet, and no
# finished view or head reruns. Each job gets only its model's config entry with its per-task
# overrides merged in, less the keys that do not change features (`reference`, `batch_seconds`),
# so adding or editing a model reruns only that model's jobs, and a per-task override only that
# (model, task).


rule demo_model:
    output:
        demo_model_files(),
    log:
        log_path("features", "demo_model", "{model}"),
    conda:
        JOB_ENV
    threads: 1
    params:
        demo=lambda w: config["models"][w.model]["demo_model"],
        out=lambda w, output: parent_dir(output[0]),
    shell:
        "minisuperb demo-model --kind {params.demo[kind]} --out {params.out:q} --seed {params.demo[seed]}"
        " --layers {params.demo[layers]} --dim {params.demo[dim]} --threads {threads} > {log} 2>&1"


rule extract:
    input:
        manifests=lambda w: manifests(w.task),
        subsets=lambda w: subset_lists(w.task, w.sampling, w.seed),
        checked=lambda w: checked_subset(w.task, w.sampling, w.seed),
        model=lambda w: model_files(w.model),
    output:
        summary=feature_summary(),
        store=directory(feature_store()),
    log:
        log_path("features", "extract", "{model}", "{task}", "{sampling}", "seed{seed}"),
    conda:
        JOB_ENV
    threads: config["extraction"]["threads"]
    params:
        settings=lambda w: as_json(feature_settings(model_entry(w.model, w.task))),
        version=lambda w: features_version(w.model, w.task),
        manifest_dir=lambda w, input: parent_dir(input.manifests[0]),
        subset_dir=lambda w, input: parent_dir(input.subsets[0]),
        batch_seconds=lambda w: batch_seconds_option(w.model),
        device=config["extraction"]["device"],
    shell:
        "minisuperb extract --model {wildcards.model} --model-settings {params.settings:q} --task {wildcards.task}"
        " --manifest-dir {params.manifest_dir:q} --subset-dir {params.subset_dir:q} --out {output.store:q}"
        " --summary {output.summary:q} --threads {threads} {params.batch_seconds} --device {params.device} > {log} 2>&1"


# `snakemake features`: the data stage and every (model, task) feature store.
rule features:
    input:
        feature_targets(),

# data stage: (demo corpus) -> manifests per task -> subset lists per (task, sampling, seed),
# checked before any job reads them (check_subset) -> utterances and hours per task (subset_stats). Each job gets only its task's slice of the config
# (`data.<task>`, `sampling.paper.<task>`), so editing one corpus reruns only that task's jobs.


rule demo_corpus:
    output:
        demo_corpus_marker(),
    log:
        log_path("data", "demo_corpus"),
    conda:
        JOB_ENV
    threads: 1
    params:
        settings=as_json(config.get("demo", {})),
        out=lambda w, output: parent_dir(output[0]),
    shell:
        "minisuperb demo-corpus --out {params.out:q} --settings {params.settings:q} > {log} 2>&1"


rule prepare:
    input:
        lambda w: demo_marker(w.task),
    output:
        manifests(),
    log:
        log_path("data", "prepare", "{task}"),
    conda:
        JOB_ENV
    # header reads are fast on a local disk; raise with --set-threads prepare=N on network file systems
    threads: 1
    params:
        settings=lambda w: as_json(data_settings(w.task)),
        out_dir=lambda w, output: parent_dir(output[0]),
    shell:
        "minisuperb prepare --task {wildcards.task} --settings {params.settings:q}"
        " --out-dir {params.out_dir:q} --threads {threads} > {log} 2>&1"


rule subsample:
    input:
        manifests=lambda w: manifests(w.task),
        id_lists=lambda w: paper_id_lists(w.task),
    output:
        subset_lists(),
    log:
        log_path("data", "subsample", "{task}", "{sampling}", "seed{seed}"),
    conda:
        JOB_ENV
    threads: 1
    params:
        settings=lambda w: as_json(config["sampling"]["paper"][w.task]),
        manifest_dir=lambda w, input: parent_dir(input.manifests[0]),
        out_dir=lambda w, output: parent_dir(output[0]),
    shell:
        "minisuperb subsample --task {wildcards.task} --sampling {wildcards.sampling} --seed {wildcards.seed}"
        " --settings {params.settings:q} --manifest-dir {params.manifest_dir:q} --out-dir {params.out_dir:q}"
        " > {log} 2>&1"


rule check_subset:
    input:
        subset_lists(),
    output:
        checked_subset(),
    log:
        log_path("data", "check_subset", "{task}", "{sampling}", "seed{seed}"),
    conda:
        JOB_ENV
    threads: 1
    params:
        folder=lambda w, input: parent_dir(input[0]),
    shell:
        "minisuperb check-subset --subset-dir {params.folder:q} --out {output:q} > {log} 2>&1"


rule subset_stats:
    input:
        manifests=lambda w: manifests(w.task),
        subsets=lambda w: configured_subset_lists(w.task),
        checked=lambda w: configured_checks(w.task),
    output:
        data_stats(),
    log:
        log_path("data", "subset_stats", "{task}"),
    conda:
        JOB_ENV
    threads: 1
    params:
        manifest_dir=lambda w, input: parent_dir(input.manifests[0]),
        subset_dirs=lambda w, input: list(dict.fromkeys(parent_dir(path) for path in input.subsets)),
    shell:
        "minisuperb subset-stats --manifest-dir {params.manifest_dir:q} --subset-dirs {params.subset_dirs:q}"
        " --stats {output:q} > {log} 2>&1"


# `snakemake data`: only the data stage (demo corpus, manifests, subset lists, their stats).
rule data:
    input:
        data_targets(),

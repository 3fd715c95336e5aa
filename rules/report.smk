# report stage: every metrics.json of the configured runs -> results table -> scores, correlation
# with SUPERB, cost, figures, report.md and a self-contained report.html. The figures are also
# attached to `snakemake --report` (captions in report/ at the repository root), with one figure
# per study that report.studies configures (figures/study_<name>.png, none in the demo).


rule collect:
    input:
        downstream_targets(),
    output:
        results=report_file("results.csv"),
        training=report_file("training.csv"),
    log:
        log_path("report", "collect"),
    conda:
        JOB_ENV
    threads: 1
    params:
        references=as_json(model_references()),
    shell:
        "minisuperb collect {input:q} --references {params.references:q}"
        " --output {output.results:q} --training-output {output.training:q} --threads {threads} > {log} 2>&1"


rule report:
    input:
        results=rules.collect.output.results,
        training=rules.collect.output.training,
        stats=list(report_stats().values()),
        summaries=[path for paths in report_summaries().values() for path in paths.values()],
        presets=PROTOCOL_PRESETS_FILE,  # the cost's SUPERB side reads the presets
    output:
        **{
            name: report(path, caption="../report/studies.rst", category="Studies")
            for name, path in study_figures().items()
        },
        scores=report_file("scores.csv"),
        correlation=report_file("correlation.json"),
        cost=report_file("cost.csv"),
        markdown=report_file("report.md"),
        html=report_file("report.html"),
        ranking=report(report_file("figures/ranking.png"), caption="../report/ranking.rst", category="Scores"),
        per_task=report(report_file("figures/per_task.png"), caption="../report/per_task.rst", category="Scores"),
        scatter=report(report_file("figures/scatter.png"), caption="../report/scatter.rst", category="Correlation"),
        cost_figure=report(report_file("figures/cost.png"), caption="../report/cost.rst", category="Cost"),
        published_studies=report_file("published_studies.json"),
        task_subsets=report(
            report_file("figures/task_subsets.png"),
            caption="../report/task_subsets.rst",
            category="Published data",
        ),
        predicted_score=report(
            report_file("figures/predicted_score.png"),
            caption="../report/predicted_score.rst",
            category="Published data",
        ),
    log:
        log_path("report", "report"),
    conda:
        JOB_ENV
    threads: 1
    params:
        settings=as_json(report_settings()),
        stats=as_json(report_stats()),
        summaries=as_json(report_summaries()),
        out_dir=lambda w, output: parent_dir(output.scores),
    shell:
        "minisuperb report --results {input.results:q} --training {input.training:q}"
        " --stats {params.stats:q} --feature-summaries {params.summaries:q}"
        " --settings {params.settings:q} --output-dir {params.out_dir:q} --threads {threads} > {log} 2>&1"

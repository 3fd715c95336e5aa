# report stage: every metrics.json of the configured runs -> results table -> scores, correlation
# with SUPERB, cost, figures, report.md and a self-contained report.html. The figures are also
# attached to `snakemake --report` (captions in report/ at the repository root).
from minisuperb.errors import MinisuperbError

REPORT_DIR = f"{RESULTS}/report"


def report_settings():
    """The `report:` section, with the MiniSUPERB run defaulting to the first configured run;
    a mini or full run that is not configured fails here, before any job starts."""
    runs = [{key: run[key] for key in ("protocol", "sampling")} for run in config["runs"]]
    settings = dict(config["report"], mini_run=config["report"]["mini_run"] or runs[0])
    for key in ("mini_run", "full_run"):
        if settings[key] and settings[key] not in runs:
            raise MinisuperbError(
                f"config key report.{key} is {settings[key]}, which is not one of `runs` ({runs}). "
                "Add that run to `runs`, or change the key."
            )
    return settings


def model_references():
    """Config model name -> its row name in the SUPERB tables (None: not in them)."""
    return {name: entry.get("reference") for name, entry in config["models"].items()}


def report_inputs():
    """The extraction summaries and, for the cost, the manifests and subset lists."""
    return FEATURE_TARGETS + [path for task in config["tasks"] for path in manifests(task) + subset_lists(task)]


rule collect:
    input:
        DOWNSTREAM_TARGETS,
    output:
        results=f"{REPORT_DIR}/results.csv",
        training=f"{REPORT_DIR}/training.csv",
    params:
        references=as_json(model_references()),
    conda:
        JOB_ENV
    log:
        log_path("report", "collect"),
    threads: 1
    shell:
        "minisuperb collect {input:q} --references {params.references:q}"
        " --output {output.results:q} --training-output {output.training:q} --threads {threads} > {log} 2>&1"


rule report:
    input:
        results=rules.collect.output.results,
        training=rules.collect.output.training,
        upstream=report_inputs(),
    output:
        scores=f"{REPORT_DIR}/scores.csv",
        correlation=f"{REPORT_DIR}/correlation.json",
        cost=f"{REPORT_DIR}/cost.csv",
        markdown=f"{REPORT_DIR}/report.md",
        html=f"{REPORT_DIR}/report.html",
        ranking=report(f"{REPORT_DIR}/figures/ranking.png", caption="../report/ranking.rst", category="Scores"),
        per_task=report(f"{REPORT_DIR}/figures/per_task.png", caption="../report/per_task.rst", category="Scores"),
        scatter=report(f"{REPORT_DIR}/figures/scatter.png", caption="../report/scatter.rst", category="Correlation"),
        cost_figure=report(f"{REPORT_DIR}/figures/cost.png", caption="../report/cost.rst", category="Cost"),
    params:
        settings=as_json(report_settings()),
        features_dir=f"{RESULTS}/features",
        data_dir=f"{RESULTS}/data",
        out_dir=REPORT_DIR,
    conda:
        JOB_ENV
    log:
        log_path("report", "report"),
    threads: 1
    shell:
        "minisuperb report --results {input.results:q} --training {input.training:q}"
        " --features-dir {params.features_dir:q} --data-dir {params.data_dir:q}"
        " --settings {params.settings:q} --output-dir {params.out_dir:q} --threads {threads} > {log} 2>&1"


TARGETS += [
    rules.report.output.scores,
    rules.report.output.correlation,
    rules.report.output.cost,
    rules.report.output.markdown,
    rules.report.output.html,
]

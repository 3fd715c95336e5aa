# minisuperb: subsample -> extract features (Zarr) -> train LSTM heads -> metrics -> report.
# Thin by design: load and validate the config, then include one rule file per stage.
# All science lives in the `minisuperb` package; rules call its command line.
from minisuperb.config import validate_config

# The demo config is the default. A --configfile given on the command line replaces it rather
# than being merged over it, so demo models and settings never leak into a paper run.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


validate_config(config, source="the Snakemake config (config/config.yaml and --config/--configfile)")

RESULTS = config["results"]
TARGETS = []  # each stage appends its final outputs


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/features.smk"
include: "rules/downstream.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        TARGETS,

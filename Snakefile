# minisuperb: subsample -> extract features (Zarr) -> train LSTM heads -> metrics -> report.
# Thin by design: load and validate the config, then include one rule file per stage.
# All science lives in the `minisuperb` package; rules call its command line.
from minisuperb.config import validate_config

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

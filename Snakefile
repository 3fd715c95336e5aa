# minisuperb: subsample -> extract features (Zarr) -> train LSTM heads -> metrics -> report.
# Thin by design: load and validate the config, then include one rule file per stage.
# All science lives in the `minisuperb` package; rules call its command line.
from minisuperb.catalog import TASK_PATTERN
from minisuperb.config import validate_config
from minisuperb.corpora.sampling import SAMPLING_WILDCARD

# The demo config is the default. A --configfile given on the command line replaces it rather
# than being merged over it, so demo models and settings never leak into a paper run.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# Errors name the file the user passed (--configfile), not the demo's.
CONFIG_FILES = ", ".join(map(str, workflow.overwrite_configfiles)) or "config/config.yaml"
validate_config(config, source=f"{CONFIG_FILES} (and any --config values)")

RESULTS = config["results"]


# One constraint per wildcard, for every rule.
wildcard_constraints:
    task=TASK_PATTERN,
    sampling=SAMPLING_WILDCARD,
    seed=r"\d+",
    train_seed=r"\d+",
    model=r"[^/]+",
    protocol=r"[A-Za-z0-9_]+",


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/features.smk"
include: "rules/downstream.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),

"""The downstream stage: train one head per (protocol, sampling, seed, model, task) on the stored
features of an upstream, select the best dev checkpoint, score it on test and write metrics.json.

`commands` is the `minisuperb train` sub-command; `loop` the trainer; `data` the items and batch
order; `checkpoint` resuming; `macs` the cost; `featurizer`, `protocols`, `metrics` and `tasks`
the pieces a run is made of.
"""

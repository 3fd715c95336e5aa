"""Expectations a speech researcher checks before trusting a ranking (`report.expectations`).

Two kinds, each on the mini run's test metrics (mean over seeds):
- `{model: A, beats: B, metrics: [...]}`: A is better than B on every listed metric (e.g. a
  pretrained speaker encoder beats its random-init twin on SID);
- `{none_of: [models], beats: B, metrics: every}`: no listed model is better than B on every metric
  of the score (`every`: report.metrics, or a list), e.g. no random model beats FBANK everywhere.
"Better" follows each metric's direction (scoring.higher_is_better). An expectation naming a model
or metric the run does not have is reported as not checked, not as held.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from minisuperb.report.scoring import higher_is_better

EVERY = "every"


@dataclass(frozen=True)
class Outcome:
    expectation: str
    held: bool | None  # None: not checked (a model or metric is missing)
    evidence: str


def better(a: float, b: float, metric: str) -> bool:
    return a > b if higher_is_better(metric) else a < b


def check(scores: pd.DataFrame, expectations: Sequence[Mapping], score_metrics: Sequence[str]) -> list[Outcome]:
    """Each expectation checked on `scores` (one row per model: `upstream` and metric columns);
    `score_metrics` are what `every` means."""
    values = scores.set_index("upstream")
    return [_check_one(values, expectation, score_metrics) for expectation in expectations]


def _check_one(values: pd.DataFrame, expectation: Mapping, score_metrics: Sequence[str]) -> Outcome:
    every = expectation["metrics"] == EVERY
    compared = list(score_metrics) if every else list(expectation["metrics"])
    baseline = expectation["beats"]
    models = [expectation["model"]] if "model" in expectation else list(expectation["none_of"])
    if "model" in expectation:
        text = f"{models[0]} beats {baseline} on {', '.join(compared)}"
    else:
        scope = "every metric" if every else "all of " + ", ".join(compared)
        text = f"none of {', '.join(models)} beats {baseline} on {scope}"
    missing = [name for name in [baseline, *models] if name not in values.index]
    missing += [metric for metric in compared if metric not in values.columns]
    if missing:
        return Outcome(text, None, f"not checked: the run has no {', '.join(missing)}")

    def beats_everywhere(model: str) -> bool:
        return all(better(values.at[model, m], values.at[baseline, m], m) for m in compared)

    if "model" in expectation:
        evidence = "; ".join(f"{m} {values.at[models[0], m]:.3g} vs {values.at[baseline, m]:.3g}" for m in compared)
        return Outcome(text, beats_everywhere(models[0]), evidence)
    winners = [model for model in models if beats_everywhere(model)]
    evidence = (f"{', '.join(winners)} beat{'s' if len(winners) == 1 else ''} {baseline} on every one"
                if winners else f"each loses to {baseline} on at least one of {len(compared)} metrics")
    return Outcome(text, not winners, evidence)


def summary_text(outcomes: Sequence[Outcome]) -> str:
    checked = [o for o in outcomes if o.held is not None]
    failed = [o.expectation for o in checked if not o.held]
    text = f"Expectations: {sum(o.held for o in checked)} of {len(checked)} hold"
    if failed:
        text += f"; not held: {'; '.join(failed)} (see Expectations)"
    unchecked = len(outcomes) - len(checked)
    return text + (f"; {unchecked} not checked" if unchecked else "") + "."


def table(outcomes: Sequence[Outcome]) -> pd.DataFrame:
    status = {True: "holds", False: "does not hold", None: "not checked"}
    return pd.DataFrame({"expectation": [o.expectation for o in outcomes],
                         "result": [status[o.held] for o in outcomes],
                         "test metrics (mean over seeds)": [o.evidence for o in outcomes]})

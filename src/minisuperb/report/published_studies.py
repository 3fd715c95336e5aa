"""Two studies on the published SUPERB tables alone (no training): how well a score over a subset
of MiniSUPERB's four tasks ranks models like the full SUPERB score, and a calibrated map that
predicts a model's SUPERB score, with a leave-one-out error and a prediction interval.

- **Task subsets**: for each SUPERB task set (paper, public, hidden dev, hidden test) and each of
  the 15 non-empty subsets of the MiniSUPERB tasks, the SUPERB points formula over that subset's
  metrics (the metrics are those of the `minisuperb` task set of `scoring.TASK_SETS`, the points
  those the set's rows of the reference points file give) is correlated with the set's full
  score by `correlation.compare`. The paper set holds no SE or SS task: there SE and SS are scored
  with the public points, on the same table, and the subsets ask how well they stand in for the
  paper set's other tasks.
- **Predicted SUPERB score**: ordinary least squares, fitted with numpy. On each published table,
  two maps to the set's SUPERB score: from the four task points (5 coefficients) and from their
  mean, the 4-task score (2 coefficients); both take full-protocol metrics. A run measures its
  models with the mini protocol, whose metrics are not full-protocol metrics, so the map applied
  to evaluated models is a third one: the MiniSUPERB paper's 11 published MiniSUPERB scores
  (`paper.FIGURE`) against the SUPERB score of the same models, which holds the mini protocol's
  distortion inside the calibration data.
- **Prediction interval**: the t-based interval of the OLS fit,
  yhat +- t(n-p-1) * s * sqrt(1 + x0' (X'X)^-1 x0). With 11 calibration models a quantile of
  leave-one-out residuals would be the largest of 11 numbers; the t interval uses every residual
  through s, widens with the leverage of x0 (so outside the calibration range it says so), and is
  exact under normal errors. Its leave-one-out coverage (the share of held-out models inside the
  interval fitted without them) is reported beside it as the check of that assumption.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from minisuperb.report import analysis, correlation, paper, scoring
from minisuperb.report.document import Figure, Section, Table, correlation_text, interval_text, p_text, score_text

MINI_METRICS = scoring.TASK_SETS["minisuperb"][0]
TASKS = tuple(dict.fromkeys(scoring.task_of(m) for m in MINI_METRICS))  # ASR, SID, SE, SS
# The sets the MiniSUPERB map predicts: those the abstract correlates with (the hidden sets lack
# DeCoAR 2.0, one of the 11).
MINI_TARGETS = ("public", "paper")
TASK_POINTS, TASK_SCORE = "task points", "4-task score"
MINI_INPUT = "MiniSUPERB score (paper's 11)"


def subsets(tasks: Sequence[str] = TASKS) -> list[tuple[str, ...]]:
    """Every non-empty subset of `tasks`, by size, each in the tasks' order."""
    return [combo for size in range(1, len(tasks) + 1) for combo in itertools.combinations(tasks, size)]


def subset_name(tasks: Sequence[str]) -> str:
    return "+".join(tasks)


def subset_points(set_name: str, tasks: Sequence[str], reference_dir: str | Path) -> scoring.Points:
    """The points of the MiniSUPERB metrics of `tasks`, from the set's rows of the points file."""
    suffix = scoring.TASK_SETS[set_name][1]
    available = scoring.read_points_file(Path(reference_dir) / scoring.REFERENCE_POINTS_FILE, suffix)
    return {m: available[m] for m in MINI_METRICS if scoring.task_of(m) in tasks}


def published_tables(reference_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Per set, one row per model of its table: `score` (the set's SUPERB score) and one column
    of points per MiniSUPERB task (NaN where a metric is missing)."""
    result = {}
    for set_name, reference in analysis.reference_scores(reference_dir).items():
        table = scoring.reference_table(set_name, reference_dir)
        tasks = scoring.task_points_table(table, subset_points(set_name, TASKS, reference_dir)).set_index("upstream")
        result[set_name] = tasks.assign(score=pd.Series(reference["score"]))
    return result


def task_subsets(tables: Mapping[str, pd.DataFrame], samples: int, seed: int, confidence: float) -> dict:
    """Per set, per subset: its score (the mean of its task points) against the set's score."""
    result = {}
    for set_name, table in tables.items():
        full = table["score"].to_dict()
        rows = []
        for tasks in subsets():
            ours = table[list(tasks)].mean(axis=1, skipna=False).to_dict()
            rows.append({"tasks": list(tasks), "name": subset_name(tasks),
                         **correlation.compare(ours, full, samples, seed, confidence)})
        result[set_name] = rows
    return result


@dataclass
class LinearMap:
    """y = b0 + b . x, fitted by least squares on the rows `models` of (x, y)."""
    inputs: list[str]
    models: list[str]
    x: np.ndarray  # (n, p)
    y: np.ndarray  # (n,)
    confidence: float

    @property
    def design(self) -> np.ndarray:
        return np.column_stack([np.ones(len(self.y)), self.x])

    @property
    def coefficients(self) -> np.ndarray:
        return np.linalg.lstsq(self.design, self.y, rcond=None)[0]

    @property
    def dof(self) -> int:
        return len(self.y) - self.design.shape[1]

    def predict(self, x0: Sequence[float]) -> tuple[float, float, float]:
        """(prediction, low, high): the t-based prediction interval of a new model at x0."""
        design = self.design
        residuals = self.y - design @ self.coefficients
        # An exact fit (as many coefficients as models) leaves no residual to size an interval with.
        variance = residuals @ residuals / self.dof if self.dof > 0 else math.nan
        row = np.concatenate([[1.0], np.asarray(x0, dtype=float)])
        spread = math.sqrt(variance * (1.0 + row @ np.linalg.pinv(design.T @ design) @ row))
        half = float(stats.t.ppf(0.5 + self.confidence / 2, self.dof)) * spread
        value = float(row @ self.coefficients)
        return value, value - half, value + half

    def without(self, index: int) -> "LinearMap":
        keep = np.arange(len(self.y)) != index
        return LinearMap(self.inputs, [m for m, k in zip(self.models, keep) if k], self.x[keep], self.y[keep],
                         self.confidence)

    def leave_one_out(self) -> dict:
        """Each model predicted by the map fitted without it: MAE, RMSE, the share inside its
        interval and the mean interval width."""
        held = [self.without(i).predict(self.x[i]) for i in range(len(self.y))]
        errors = np.array([value for value, _, _ in held]) - self.y
        inside = [low <= y <= high for (_, low, high), y in zip(held, self.y)]
        return {"mae": float(np.abs(errors).mean()), "rmse": float(np.sqrt((errors ** 2).mean())),
                "coverage": float(np.mean(inside)), "mean_width": float(np.mean([h - lo for _, lo, h in held])),
                "predictions": [v for v, _, _ in held]}

    def in_range(self, x0: Sequence[float]) -> bool:
        x0 = np.asarray(x0, dtype=float)
        return bool(np.all((self.x.min(axis=0) <= x0) & (x0 <= self.x.max(axis=0))))

    def band(self, low: float, high: float, points: int = 61) -> dict:
        """Prediction and interval over a grid of the (single) input from `low` to `high`."""
        grid = np.linspace(low, high, points)
        values = np.array([self.predict([x]) for x in grid])
        return {"x": grid.tolist(), "prediction": values[:, 0].tolist(), "low": values[:, 1].tolist(),
                "high": values[:, 2].tolist()}

    def summary(self, target: str) -> dict:
        residuals = self.y - self.design @ self.coefficients
        return {"target": target, "inputs": self.inputs, "n": len(self.y), "models": self.models,
                "coefficients": dict(zip(["intercept", *self.inputs], map(float, self.coefficients))),
                "residual_sd": float(math.sqrt(residuals @ residuals / self.dof)) if self.dof > 0 else math.nan,
                "confidence": self.confidence,
                "loo": self.leave_one_out(), "x": self.x.tolist(), "y": self.y.tolist()}


def fit(frame: pd.DataFrame, inputs: Sequence[str], target: str, confidence: float) -> LinearMap:
    """A map from the `inputs` columns of `frame` to its `target` column, over complete rows."""
    rows = frame[[*inputs, target]].dropna()
    return LinearMap(list(inputs), list(rows.index), rows[list(inputs)].to_numpy(float), rows[target].to_numpy(float),
                     confidence)


def published_maps(tables: Mapping[str, pd.DataFrame], confidence: float) -> dict[str, dict[str, LinearMap]]:
    """Per set: the maps from the four task points and from the 4-task score to the set's score."""
    result = {}
    for set_name, table in tables.items():
        frame = table.assign(**{TASK_SCORE: table[list(TASKS)].mean(axis=1, skipna=False)})
        result[set_name] = {TASK_POINTS: fit(frame, TASKS, "score", confidence),
                            TASK_SCORE: fit(frame, [TASK_SCORE], "score", confidence)}
    return result


def minisuperb_maps(tables: Mapping[str, pd.DataFrame], confidence: float) -> dict[str, LinearMap]:
    """Per target set: the paper's 11 MiniSUPERB scores against the SUPERB score of those models."""
    mini = pd.Series({model: float(m) for model, (m, _) in paper.FIGURE.items()}, name=MINI_INPUT)
    return {set_name: fit(pd.concat([mini, tables[set_name]["score"]], axis=1, join="inner"), [MINI_INPUT], "score",
                          confidence)
            for set_name in MINI_TARGETS}


@dataclass
class Studies:
    subsets: dict
    published: dict[str, dict[str, LinearMap]]
    minisuperb: dict[str, LinearMap]
    settings: dict

    def to_json(self) -> dict:
        return {"settings": self.settings, "task_subsets": self.subsets,
                "predictor": {"interval": "t-based OLS prediction interval (see published_studies.py)",
                              "published": {s: {name: m.summary(s) for name, m in maps.items()}
                                            for s, maps in self.published.items()},
                              "minisuperb": {s: m.summary(s) for s, m in self.minisuperb.items()}}}


def run(reference_dir: str | Path, samples: int, seed: int, confidence: float) -> Studies:
    """Both studies; computed once per process for the same reference files and settings."""
    reference_dir = Path(reference_dir).resolve()
    stamps = tuple(sorted((p.name, p.stat().st_mtime_ns) for p in reference_dir.glob("*.csv")))
    return _run(reference_dir, stamps, samples, seed, confidence)


@lru_cache(maxsize=4)
def _run(reference_dir: Path, stamps: tuple, samples: int, seed: int, confidence: float) -> Studies:
    tables = published_tables(reference_dir)
    return Studies(task_subsets(tables, samples, seed, confidence), published_maps(tables, confidence),
                   minisuperb_maps(tables, confidence),
                   {"bootstrap": samples, "seed": seed, "confidence": confidence})


def predictions(scores: pd.DataFrame, models: Sequence[str], maps: Mapping[str, LinearMap]) -> list[dict]:
    """The predicted SUPERB score, per target set, of each of `models` (rows of `scores`, by
    `upstream`) that has a MiniSUPERB score."""
    by_model = scores.set_index("upstream")[analysis.SCORE]
    rows = []
    for model in models:
        value = by_model.get(model)
        if not correlation.finite(value):
            continue
        row = {"model": model, "minisuperb_score": float(value)}
        for set_name, linear in maps.items():
            predicted, low, high = linear.predict([value])
            row[set_name] = {"prediction": predicted, "low": low, "high": high, "in_range": linear.in_range([value])}
        rows.append(row)
    return rows


# --- Output: JSON, figures and the report's sections (shared by `report` and `published-studies`).

JSON_FILE = "published_studies.json"
FIGURES = {"task_subsets": "figures/task_subsets.png", "predicted_score": "figures/predicted_score.png"}


def write_outputs(output_dir: str | Path, studies: Studies, evaluated: list[dict],
                  titles: Mapping[str, str]) -> dict[str, Path]:
    """published_studies.json and the two figures in `output_dir`; name -> path."""
    import json

    from minisuperb.report import figures  # matplotlib: only when writing

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    data = studies.to_json() | {"evaluated": evaluated}
    (output_dir / JSON_FILE).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    maps = {}
    for set_name, linear in studies.minisuperb.items():
        inputs = [float(linear.x.min()), float(linear.x.max()), *(row["minisuperb_score"] for row in evaluated)]
        span = max(inputs) - min(inputs)
        maps[set_name] = linear.summary(set_name) | {"band": linear.band(min(inputs) - 0.05 * span,
                                                                          max(inputs) + 0.05 * span)}
    loo = {set_name: maps_of_set[TASK_POINTS].summary(set_name) for set_name, maps_of_set in studies.published.items()}
    panel_titles = {set_name: set_title(set_name, rows, titles) for set_name, rows in studies.subsets.items()}
    return {"task_subsets": figures.save(figures.task_subsets(studies.subsets, panel_titles),
                                         output_dir / FIGURES["task_subsets"]),
            "predicted_score": figures.save(figures.predicted_score(maps, loo, evaluated, titles),
                                            output_dir / FIGURES["predicted_score"])}


METHOD_NAMES = {"spearman": "Spearman's rho", "kendall": "Kendall's tau-b"}


def _p(value: float) -> str:
    """"p<0.0001", "p=0.0094": no space inside, so a narrow cell wraps before it, not within it."""
    text = p_text(value).replace(" ", "")
    return f"p{text}" if text.startswith("<") else f"p={text}"


def _rho(entry: Mapping, method: str = "spearman") -> str:
    value = entry[method]
    return f"{correlation_text(value['value'])}" + (f" {interval_text(value['ci'])}" if value["ci"] else "")


def subset_headlines(studies: Studies, titles: Mapping[str, str]) -> list[str]:
    """Per set: the 4-task subset's Spearman with its interval, the best and the worst subset."""
    lines = []
    for set_name, rows in studies.subsets.items():
        shown = [row for row in rows if row["spearman"]]
        if not shown:
            continue
        ranked = sorted(shown, key=lambda row: row["spearman"]["value"])
        every = next((row for row in shown if len(row["tasks"]) == len(TASKS)), None)
        lines.append(f"{titles.get(set_name, set_name)}, Spearman with its full score: all four tasks "
                     f"{_rho(every) if every else 'n/a'}; best {ranked[-1]['name']} {_rho(ranked[-1])}, worst "
                     f"{ranked[0]['name']} {_rho(ranked[0])}.")
    return lines


def set_title(set_name: str, rows: list[dict], titles: Mapping[str, str]) -> str:
    """"SUPERB paper set (n=18-20)": the set and how many models its subsets compare."""
    n = sorted({row["n"] for row in rows})
    return f"{titles.get(set_name, set_name)} (n={n[0]}{f'-{n[-1]}' if n[-1] != n[0] else ''})"


def subset_table(studies: Studies, titles: Mapping[str, str], method: str) -> Table:
    """One row per subset, one cell per set: "value [interval] p=..."."""
    columns = {}
    for set_name, rows in studies.subsets.items():
        columns[set_title(set_name, rows, titles)] = [
            f"{_rho(row, method)} {_p(row[method]['p_value'])}" if row[method] else row["note"]
            for row in rows]
    names = [row["name"] for row in next(iter(studies.subsets.values()))]
    return Table(pd.DataFrame({f"tasks ({METHOD_NAMES[method]})": names, **columns}))


def map_table(studies: Studies, titles: Mapping[str, str]) -> Table:
    rows = []
    maps = [(set_name, "published table", name, linear) for set_name, by_input in studies.published.items()
            for name, linear in by_input.items()]
    maps += [(set_name, "MiniSUPERB paper's figure", MINI_INPUT, linear)
             for set_name, linear in studies.minisuperb.items()]
    for set_name, source, name, linear in maps:
        loo = linear.leave_one_out()
        rows.append({"target": titles.get(set_name, set_name), "calibrated on": source, "input": name,
                     "models": len(linear.y), "LOO MAE": loo["mae"], "LOO RMSE": loo["rmse"],
                     "LOO inside 95% PI": f"{100 * loo['coverage']:.0f}%", "mean PI width": loo["mean_width"]})
    return Table(pd.DataFrame(rows), dict.fromkeys(["LOO MAE", "LOO RMSE", "mean PI width"], score_text))


def prediction_table(evaluated: list[dict], titles: Mapping[str, str], confidence: float) -> Table:
    rows = []
    for row in evaluated:
        cells = {"model": row["model"], "MiniSUPERB score": row["minisuperb_score"]}
        for set_name in MINI_TARGETS:
            value = row[set_name]
            cells[f"{titles.get(set_name, set_name)}, predicted [{100 * confidence:.0f}% PI]"] = (
                f"{score_text(value['prediction'])} [{score_text(value['low'])}, {score_text(value['high'])}]"
                + ("" if value["in_range"] else " (extrapolated)"))
        rows.append(cells)
    return Table(pd.DataFrame(rows), {"MiniSUPERB score": score_text})


SUBSET_METHOD = (
    "The SUPERB points formula restricted to a subset of MiniSUPERB's tasks (per metric "
    "1000 * (s - FBANK) / (SOTA - FBANK) with the set's own reference points, a task's metrics averaged, "
    "the mean over the subset's tasks), computed from the published full-protocol results, against the "
    "set's full SUPERB score over all its tasks: no training involved. The paper set has no SE or SS task; "
    "its table's SE and SS values are scored with the public set's points. Models missing a metric of "
    "either score are left out (n per set in the header). Intervals: 95% BCa bootstrap over the models; "
    "p: two-sided, from permutations (see Rank agreement for the method)."
)
PREDICTOR_METHOD = (
    "Ordinary least squares, leave-one-out (LOO) errors: each model predicted by the map fitted without it. "
    "Interval: the t-based OLS prediction interval, yhat +- t(n - p - 1) * s * sqrt(1 + x0'(X'X)^-1 x0): with "
    "11 calibration models a quantile of LOO residuals would be the largest of 11 numbers, while the t "
    "interval uses every residual, widens away from the calibration data and is exact under normal errors; "
    "the share of held-out models inside the interval fitted without them checks that."
)
PREDICTOR_CAVEAT = (
    "Mini-protocol metrics are not full-protocol metrics, so the maps from published task points (which take "
    "full-protocol results) are not applied to a run's models. Evaluated models are predicted by the map fitted "
    "on the 11 models whose MiniSUPERB scores the paper published, from MiniSUPERB score to SUPERB score: the "
    "mini protocol's distortion lies inside its calibration data and its residuals. It holds for scores on the "
    "paper's scale (its mini protocol, data and points; its figure puts WavLM Large at 999, FBANK at 0). A run "
    "with other data, metrics or points, the demo's included, is not on that scale: its prediction shows the "
    "mechanics, not an estimate. Outside the 11 models' range (0 to 999) the prediction is an extrapolation."
)


def sections(studies: Studies, figure_paths: Mapping[str, Path], titles: Mapping[str, str],
             evaluated: list[dict] | None = None, unrowed: Sequence[str] = ()) -> list[Section]:
    """The two sections. `evaluated`: predictions of the run's models with no SUPERB row (`unrowed`);
    None without a run."""
    confidence = studies.settings["confidence"]
    public = studies.minisuperb.get("public")
    predicted = [PREDICTOR_METHOD, PREDICTOR_CAVEAT]
    if public is not None:
        loo = public.leave_one_out()
        predicted.insert(0, f"MiniSUPERB score -> {titles.get('public', 'public')} score on the paper's "
                            f"{len(public.y)} models: LOO MAE {score_text(loo['mae'])}, RMSE "
                            f"{score_text(loo['rmse'])}; the {100 * confidence:.0f}% prediction interval is "
                            f"{score_text(loo['mean_width'])} wide on average and held "
                            f"{100 * loo['coverage']:.0f}% of the held-out models.")
    tables = [map_table(studies, titles)]
    if evaluated is None:
        predicted.append("No run evaluated here: the report of a run lists the prediction for each of its models "
                         "with no SUPERB row.")
    elif evaluated:
        predicted.append("First table: the maps and their leave-one-out errors. Second: the prediction for each of "
                         "the run's models with no SUPERB row, from the MiniSUPERB map.")
        tables.append(prediction_table(evaluated, titles, confidence))
    else:
        predicted.append("Every model of the run with a MiniSUPERB score has a SUPERB row: nothing to predict.")
    unscored = [model for model in unrowed if model not in {row["model"] for row in evaluated or []}]
    if unscored:
        predicted.append(f"No MiniSUPERB score, so no prediction: {', '.join(unscored)}.")
    return [
        Section("Task subsets on the published SUPERB tables", [SUBSET_METHOD],
                [subset_table(studies, titles, method) for method in correlation.METHODS],
                Figure(figure_paths["task_subsets"], "Task subsets: rank correlation with each set's SUPERB score"),
                bullets=subset_headlines(studies, titles)),
        Section("Predicted SUPERB score", predicted, tables,
                Figure(figure_paths["predicted_score"], "Predicted SUPERB score: calibration and leave-one-out")),
    ]

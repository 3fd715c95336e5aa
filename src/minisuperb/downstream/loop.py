"""The training loop: train one downstream head on stored features and write metrics.json.

One run per (protocol, sampling, sampling seed, training seed, model, task). The trainer is
task-independent (see `minisuperb.downstream.tasks.base`): featurizer + head are trained with a
constant learning rate, gradient accumulation and norm clipping; dev is evaluated every
`eval_every` steps and at the last step; the best dev checkpoint by the task's primary metric is
then evaluated on test.

Resuming: `checkpoint-last.pt` is written every `checkpoint_every` steps and at every evaluation
(see `minisuperb.downstream.checkpoint`). With the stateless batch order of
`minisuperb.downstream.data`, a resumed run on CPU ends with the same metrics as an
uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from minisuperb.downstream.checkpoint import (
    BEST_CHECKPOINT,
    LAST_CHECKPOINT,
    load_resumable,
    read_checkpoint,
    restore_rng_states,
    rng_states,
    run_fingerprint,
    save_checkpoint,
    seed_everything,
)
from minisuperb.downstream.data import TaskItems, eval_batches, make_loader, training_batches
from minisuperb.downstream.featurizer import Featurizer, spec_augment
from minisuperb.downstream.macs import run_macs
from minisuperb.downstream.tasks import TASKS
from minisuperb.config import validate_definition
from minisuperb.errors import MinisuperbError
from minisuperb.files import write_json_atomic

log = logging.getLogger(__name__)

REQUIRED_SETTINGS = ("optimizer", "lr", "batch_size", "accumulate", "steps", "eval_every",
                     "eval_batch_size", "checkpoint_every", "grad_clip", "layer_norm")


class TrainingInterrupted(MinisuperbError):
    """Raised by `--stop-after-steps`: the job stops as if preempted (no checkpoint of its own)."""


@dataclass
class RunSpec:
    """What one training job is: its identity (recorded in metrics.json) and its settings."""

    task: str
    model: str
    protocol: str
    sampling: str
    seed: int  # the sampling seed: which subset lists the run trains on (recorded only)
    train_seed: int  # the head's initialisation, batch order, dropout and SpecAugment draws
    settings: dict
    out_dir: Path
    device: str = "cpu"
    num_workers: int = 0
    item_memory_bytes: int = 0  # made items kept in memory, per process (see data.TaskItems)
    stop_after_steps: int | None = None


@dataclass
class Progress:
    """Everything about the run so far that a resumed job needs besides the weights."""

    step: int = 0
    best_step: int = 0
    best_dev: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    wall_time_s: float = 0.0
    train_frames: int = 0
    eval_frames: int = 0
    loss_since_eval: float = 0.0  # sum of the training losses since the last evaluation


def make_optimizer(settings: dict, parameters) -> torch.optim.Optimizer:
    name, lr = settings["optimizer"], float(settings["lr"])
    if name == "Adam":
        return torch.optim.Adam(parameters, lr=lr)
    if name == "AdamW":  # s3prl's AdamW: eps 1e-7, no weight decay
        return torch.optim.AdamW(parameters, lr=lr, eps=1e-7, weight_decay=0.0)
    raise MinisuperbError(f"unknown optimizer {name!r} in the task settings; use Adam or AdamW.")


def check_settings(settings: dict, task: str) -> None:
    """The resolved settings against config/schema/downstream.schema.yaml, every common one present."""
    validate_definition(settings, "downstream_task_settings", REQUIRED_SETTINGS, ("resolved settings", task),
                        source="the resolved protocol settings (--settings; see minisuperb.downstream.protocols)")


def is_better(value: float, best: float | None, higher_is_better: bool) -> bool:
    if not math.isfinite(value):
        return False
    if best is None or not math.isfinite(best):
        return True
    return value > best if higher_is_better else value < best


class Trainer:
    def __init__(self, spec: RunSpec, store, records: dict[str, list[dict]]):
        self.spec = spec
        self.settings = spec.settings
        check_settings(self.settings, spec.task)
        self.store = store
        self.device = torch.device(spec.device)
        seed_everything(spec.train_seed)  # before the head is built: its initialisation is part of the run
        self.task = TASKS[spec.task](self.settings, dict(store.attrs))
        self.task.prepare(records["train"])
        # The memory for kept items is shared among the splits by their number of utterances.
        utterances = sum(map(len, records.values()))
        self.items = {split: TaskItems(self.task, store, split, split_records,
                                       spec.item_memory_bytes * len(split_records) // utterances)
                      for split, split_records in records.items()}
        self.featurizer = Featurizer(int(store.attrs["num_layers"]), bool(self.settings["layer_norm"])).to(self.device)
        self.head = self.task.build_head(int(store.attrs["dim"])).to(self.device)
        self.parameters = [*self.featurizer.parameters(), *self.head.parameters()]
        self.optimizer = make_optimizer(self.settings, self.parameters)
        self.progress = Progress()
        self.fingerprint = run_fingerprint(spec, store.attrs, records)
        spec.out_dir.mkdir(parents=True, exist_ok=True)
        self.last_path = spec.out_dir / LAST_CHECKPOINT
        self.best_path = spec.out_dir / BEST_CHECKPOINT

    # -- state

    def _save_last(self) -> None:
        save_checkpoint({
            "fingerprint": self.fingerprint, "featurizer": self.featurizer.state_dict(),
            "head": self.head.state_dict(), "optimizer": self.optimizer.state_dict(),
            "progress": asdict(self.progress), "rng": rng_states(),
        }, self.last_path)

    def _save_best(self) -> None:
        save_checkpoint({"fingerprint": self.fingerprint, "featurizer": self.featurizer.state_dict(),
                         "head": self.head.state_dict(), "step": self.progress.step}, self.best_path)

    def _resume_or_start(self) -> None:
        checkpoint = load_resumable(self.last_path, self.fingerprint)
        if checkpoint is not None and checkpoint["progress"]["step"] >= int(self.settings["steps"]):
            # Resuming is for interrupted runs. A finished run only runs again when Snakemake was
            # told to (-R, -F) or an input changed: train again rather than re-score the old head.
            log.info("%s holds a finished run; training %s/%s again from step 0",
                     self.last_path, self.spec.model, self.spec.task)
            checkpoint = None
        if checkpoint is None:
            self.best_path.unlink(missing_ok=True)  # from another run: never to be evaluated
            return
        self.featurizer.load_state_dict(checkpoint["featurizer"])
        self.head.load_state_dict(checkpoint["head"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.progress = Progress(**checkpoint["progress"])
        restore_rng_states(checkpoint["rng"])
        log.info("resuming %s/%s from step %d (%s)", self.spec.model, self.spec.task, self.progress.step, self.last_path)

    # -- steps

    def _features(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        return self.featurizer(batch["features"].to(self.device)), batch["lengths"].to(self.device)

    def _train_step(self, batches) -> float:
        self.featurizer.train()
        self.head.train()
        self.optimizer.zero_grad(set_to_none=True)
        accumulate = int(self.settings["accumulate"])
        total = 0.0
        for _ in range(accumulate):
            batch = next(batches)
            features, lengths = self._features(batch)
            if "specaug" in self.settings:
                features = spec_augment(features, lengths, **self.settings["specaug"])
            loss = self.task.loss(self.head, features, lengths, batch)
            if not torch.isfinite(loss):
                self._fail_non_finite(float(loss))
            (loss / accumulate).backward()
            total += float(loss.detach()) / accumulate
            self.progress.train_frames += int(lengths.sum())
        grad_norm = torch.nn.utils.clip_grad_norm_(self.parameters, float(self.settings["grad_clip"]))
        if torch.isfinite(grad_norm):  # as s3prl: skip the update when the gradient overflowed
            self.optimizer.step()
        return total

    def _fail_non_finite(self, value: float) -> None:
        spec = self.spec
        raise MinisuperbError(
            f"training loss is {value} at step {self.progress.step + 1} of task {spec.task} (model "
            f"{spec.model}, protocol {spec.protocol}, lr {self.settings['lr']}). Lower the learning rate "
            f"(config protocols.{spec.protocol}.{spec.task}.lr) or check the features in the store for "
            "inf/NaN values (re-extract them)."
        )

    def evaluate(self, split: str) -> tuple[dict[str, float], dict[str, int]]:
        """The split's metrics, and per metric the utterances it could not score."""
        items = self.items[split]
        loader = make_loader(items, eval_batches(len(items), int(self.settings["eval_batch_size"])),
                             self.spec.num_workers, self.spec.train_seed)
        self.featurizer.eval()
        self.head.eval()
        predictions = []
        with torch.no_grad():
            for batch in loader:
                features, lengths = self._features(batch)
                predictions.extend(self.task.predict(self.head, features, lengths, batch))
                self.progress.eval_frames += int(lengths.sum())
        metrics = {name: float(value) for name, value in self.task.summarize(predictions).items()}
        return metrics, self.task.failures(predictions)

    def _evaluate_dev(self) -> None:
        dev, failures = self.evaluate("dev")
        primary = dev[self.task.primary]
        best = self.progress.best_dev.get(self.task.primary)
        steps_since_eval = self.progress.step - (self.progress.history[-1]["step"] if self.progress.history else 0)
        train_loss = self.progress.loss_since_eval / steps_since_eval
        self.progress.history.append({"step": self.progress.step, "train_loss": train_loss, **dev,
                                      **({"failures": failures} if failures else {})})
        self.progress.loss_since_eval = 0.0
        log.info("step %d dev %s", self.progress.step, dev)
        # The first evaluation always saves a best checkpoint, even with a NaN metric.
        if is_better(primary, best, self.task.higher_is_better) or not self.best_path.is_file():
            self.progress.best_step, self.progress.best_dev = self.progress.step, dev
            self._save_best()

    def fit(self) -> None:
        """Train to `steps` (resuming if possible); afterwards the best checkpoint is loaded."""
        started = time.perf_counter()
        self._resume_or_start()
        settings = self.settings
        steps, eval_every, checkpoint_every = (int(settings[key]) for key in ("steps", "eval_every", "checkpoint_every"))
        batches = iter(make_loader(
            self.items["train"],
            training_batches(len(self.items["train"]), int(settings["batch_size"]), self.spec.train_seed,
                             self.progress.step * int(settings["accumulate"])),
            self.spec.num_workers, self.spec.train_seed,
        ))
        earlier_attempts_s = self.progress.wall_time_s
        while self.progress.step < steps:
            loss = self._train_step(batches)
            self.progress.step += 1
            self.progress.loss_since_eval += loss
            step = self.progress.step
            if step % 100 == 0 or step == 1:
                log.info("step %d/%d loss %.4f", step, steps, loss)
            self.progress.wall_time_s = earlier_attempts_s + time.perf_counter() - started
            if step % eval_every == 0 or step == steps:
                self._evaluate_dev()
                self._save_last()
            elif step % checkpoint_every == 0:
                self._save_last()
            if self.spec.stop_after_steps is not None and step >= self.spec.stop_after_steps and step < steps:
                # Like a preemption: whatever came after the last checkpoint is lost.
                raise TrainingInterrupted(
                    f"stopped after step {step} as asked by --stop-after-steps (a simulated preemption); "
                    f"rerun without it to resume from the last checkpoint, {self.last_path}."
                )
        best = read_checkpoint(self.best_path, self.device)
        self.featurizer.load_state_dict(best["featurizer"])
        self.head.load_state_dict(best["head"])
        self.progress.wall_time_s = earlier_attempts_s + time.perf_counter() - started

    def macs(self) -> dict:
        """Downstream MACs of this run, counted on the first training item."""
        batch = self.task.collate([self.items["train"][0]])
        self.featurizer.eval()
        with torch.no_grad():
            features, lengths = self._features(batch)
        return run_macs(self.task, self.head, self.featurizer, features, lengths, batch,
                        int(self.store.attrs["dim"]), self.progress.train_frames, self.progress.eval_frames)


def run(spec: RunSpec, store, records: dict[str, list[dict]]) -> dict:
    """Train, pick the best dev checkpoint, evaluate test, write and return metrics.json."""
    trainer = Trainer(spec, store, records)
    trainer.fit()
    started = time.perf_counter()
    test, test_failures = trainer.evaluate("test")
    progress = trainer.progress
    result = {
        "model": spec.model, "task": spec.task, "protocol": spec.protocol, "sampling": spec.sampling,
        "seed": spec.seed, "train_seed": spec.train_seed,
        "metrics": {"dev": progress.best_dev, "test": test},
        # Utterances a metric could not score, per metric (SE's PESQ); those of dev evaluations
        # are in dev_history.
        "failures": {"test": test_failures},
        "primary": trainer.task.primary, "higher_is_better": trainer.task.higher_is_better,
        "steps": progress.step, "best_step": progress.best_step,
        "wall_time_s": progress.wall_time_s + time.perf_counter() - started,
        "device": str(trainer.device),
        "layer_weights": trainer.featurizer.layer_weights(),
        "dev_history": progress.history,
        "utterances": {split: len(split_records) for split, split_records in records.items()},
        "config": {
            "protocol": spec.protocol, "settings": spec.settings, "sampling": spec.sampling,
            "seed": spec.seed, "train_seed": spec.train_seed, "model": spec.model,
            "model_hash": store.attrs.get("model_hash"), "store": str(getattr(store, "path", "")),
        },
        "macs": trainer.macs(),
    }
    write_json_atomic(spec.out_dir / "metrics.json", result)
    return result

"""`minisuperb train`: train one downstream head on stored features and write metrics.json.

One job per (protocol, sampling, seed, model, task). The trainer is task-independent (see
`minisuperb.tasks.base`): featurizer + head are trained with a constant learning rate, gradient
accumulation and norm clipping; dev is evaluated every `eval_every` steps and at the last step;
the best dev checkpoint by the task's primary metric is then evaluated on test.

Resuming: `checkpoint-last.pt` (written atomically every `checkpoint_every` steps and at every
evaluation) holds the head, featurizer, optimizer, step, best-so-far and the torch/numpy/python
RNG states. The order of training batches is a pure function of (seed, micro-step), so a
resumed run continues exactly where the killed one stopped: on CPU it ends with the same metrics
as an uninterrupted run. A checkpoint written for other settings or data is ignored.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from minisuperb.corpora.manifest import read_ids, read_manifest, select
from minisuperb.errors import MinisuperbError
from minisuperb.files import write_json_atomic
from minisuperb.featurizer import Featurizer, spec_augment
from minisuperb.runtime import resolve_device, set_threads
from minisuperb.tasks import TASKS
from minisuperb.tasks.base import DownstreamTask

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
REQUIRED_SETTINGS = ("optimizer", "lr", "batch_size", "accumulate", "steps", "eval_every",
                     "eval_batch_size", "checkpoint_every", "grad_clip", "layer_norm")
LAST_CHECKPOINT = "checkpoint-last.pt"
BEST_CHECKPOINT = "checkpoint-best.pt"
# Backward costs about twice the forward pass (gradients w.r.t. activations and weights).
TRAIN_MACS_PER_FORWARD = 3
MACS_METHOD = (
    "head: thop.profile of one training forward pass (Linear and LSTM modules) divided by its "
    "frames; featurizer: analytic (softmax-weighted sum, plus layer-norm when on). "
    "train = 3 x forward MACs per frame x training frames processed (forward + backward); "
    "eval = forward MACs per frame x frames evaluated (every dev evaluation and the test)."
)


class TrainingInterrupted(MinisuperbError):
    """Raised by `--stop-after-steps`: the job stops as if preempted (no checkpoint of its own)."""


@dataclass
class RunSpec:
    """What one training job is: its identity (recorded in metrics.json) and its settings."""

    task: str
    model: str
    protocol: str
    sampling: str
    seed: int
    settings: dict
    out_dir: Path
    device: str = "cpu"
    num_workers: int = 0
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


# --- data ---------------------------------------------------------------------------------------


def load_split(manifest_dir: Path, subset_dir: Path, split: str) -> list[dict]:
    """The manifest records of the split's subset list; an empty list is an error."""
    subset_path = Path(subset_dir) / f"{split}.txt"
    ids = read_ids(subset_path)
    if not ids:
        raise MinisuperbError(
            f"subset list {subset_path} is empty: the {split} split has no utterances. Check the "
            "sampling (fraction, count or k) and the corpus, then rerun the data stage."
        )
    return select(read_manifest(Path(manifest_dir) / f"{split}.jsonl"), ids, where=str(subset_path))


class TaskItems(Dataset):
    """The task's items of one split, made on demand from the store."""

    def __init__(self, task: DownstreamTask, store, split: str, records: list[dict]):
        self.task, self.store, self.split, self.records = task, store, split, records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        record = self.records[index]
        return self.task.make_item(record, self.store.get(self.split, record["id"]))


def training_batch(num_items: int, batch_size: int, seed: int, micro_step: int) -> list[int]:
    """The item indices of forward pass `micro_step` (0-based): epochs are seeded permutations
    cut into batches (the last one may be smaller). Stateless, so resuming needs only the step."""
    batches_per_epoch = math.ceil(num_items / batch_size)
    epoch, position = divmod(micro_step, batches_per_epoch)
    order = torch.randperm(num_items, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    return order[position * batch_size : (position + 1) * batch_size].tolist()


def training_batches(num_items: int, batch_size: int, seed: int, first_micro_step: int) -> Iterator[list[int]]:
    micro_step = first_micro_step
    while True:
        yield training_batch(num_items, batch_size, seed, micro_step)
        micro_step += 1


def make_loader(items: TaskItems, batches, num_workers: int, seed: int) -> DataLoader:
    # A private generator: otherwise creating the iterator draws from the global torch RNG, and a
    # resumed run would draw once more than an uninterrupted one.
    return DataLoader(items, batch_sampler=batches, collate_fn=items.task.collate,
                      num_workers=num_workers, generator=torch.Generator().manual_seed(seed))


def eval_batches(num_items: int, batch_size: int) -> list[list[int]]:
    return [list(range(start, min(start + batch_size, num_items))) for start in range(0, num_items, batch_size)]


# --- model pieces ---------------------------------------------------------------------------------


def make_optimizer(settings: dict, parameters) -> torch.optim.Optimizer:
    name, lr = settings["optimizer"], float(settings["lr"])
    if name == "Adam":
        return torch.optim.Adam(parameters, lr=lr)
    if name == "AdamW":  # s3prl's AdamW: eps 1e-7, no weight decay
        return torch.optim.AdamW(parameters, lr=lr, eps=1e-7, weight_decay=0.0)
    raise MinisuperbError(f"unknown optimizer {name!r} in the task settings; use Adam or AdamW.")


def check_settings(settings: dict, task: str) -> None:
    missing = [key for key in REQUIRED_SETTINGS if key not in settings]
    if missing:
        raise MinisuperbError(
            f"the {task} settings lack {', '.join(missing)}; pass the resolved protocol settings "
            "(minisuperb.protocols.resolve_settings) with --settings."
        )
    for key in ("batch_size", "accumulate", "steps", "eval_every", "eval_batch_size", "checkpoint_every"):
        if int(settings[key]) < 1:
            raise MinisuperbError(f"setting {key} of task {task} must be at least 1, not {settings[key]}.")


def is_better(value: float, best: float | None, higher_is_better: bool) -> bool:
    if not math.isfinite(value):
        return False
    if best is None or not math.isfinite(best):
        return True
    return value > best if higher_is_better else value < best


class _LossCall(torch.nn.Module):
    """Wraps `task.loss` so that thop can hook the head's modules while the task calls it."""

    def __init__(self, task: DownstreamTask, head: torch.nn.Module):
        super().__init__()
        self.task, self.head = task, head

    def forward(self, features, lengths, batch):
        return self.task.loss(self.head, features, lengths, batch)


def head_macs_per_frame(task: DownstreamTask, head: torch.nn.Module, features: torch.Tensor,
                        lengths: torch.Tensor, batch: dict) -> float:
    """Forward MACs of the head per feature frame, counted by thop on a real batch."""
    import thop

    # A copy: thop leaves `total_ops`/`total_params` buffers on the modules it has no rule for
    # (the head itself, BiLstm), which would then enter the head's state_dict.
    macs, _ = thop.profile(_LossCall(task, copy.deepcopy(head)), inputs=(features, lengths, batch), verbose=False)
    return float(macs) / float(lengths.sum())


# --- checkpoints -----------------------------------------------------------------------------------


def save_atomic(payload: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def rng_states() -> dict:
    states = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def run_fingerprint(spec: RunSpec, store_attrs: dict, records: dict[str, list[dict]]) -> str:
    """Identifies what a checkpoint was trained on: a checkpoint from other settings, data or
    features must not be resumed."""
    identity = {
        "task": spec.task, "model": spec.model, "seed": spec.seed, "settings": spec.settings,
        "model_hash": store_attrs.get("model_hash"),
        "ids": {split: [record["id"] for record in split_records] for split, split_records in records.items()},
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def load_resumable(path: Path, fingerprint: str) -> dict | None:
    if not path.is_file():
        return None
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    if checkpoint.get("fingerprint") != fingerprint:
        log.warning("ignoring %s: it was written for other settings, data or features", path)
        return None
    return checkpoint


# --- the run -------------------------------------------------------------------------------------


class Trainer:
    def __init__(self, spec: RunSpec, store, records: dict[str, list[dict]]):
        self.spec = spec
        self.settings = spec.settings
        check_settings(self.settings, spec.task)
        self.store = store
        self.device = torch.device(spec.device)
        seed_everything(spec.seed)  # before the head is built: its initialisation is part of the run
        self.task = TASKS[spec.task](self.settings, dict(store.attrs))
        self.task.prepare(records["train"])
        self.items = {split: TaskItems(self.task, store, split, split_records) for split, split_records in records.items()}
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
        save_atomic({
            "fingerprint": self.fingerprint, "featurizer": self.featurizer.state_dict(),
            "head": self.head.state_dict(), "optimizer": self.optimizer.state_dict(),
            "progress": asdict(self.progress), "rng": rng_states(),
        }, self.last_path)

    def _save_best(self) -> None:
        save_atomic({"fingerprint": self.fingerprint, "featurizer": self.featurizer.state_dict(),
                     "head": self.head.state_dict(), "step": self.progress.step}, self.best_path)

    def _resume_or_start(self) -> None:
        checkpoint = load_resumable(self.last_path, self.fingerprint)
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

    def evaluate(self, split: str) -> dict[str, float]:
        items = self.items[split]
        loader = make_loader(items, eval_batches(len(items), int(self.settings["eval_batch_size"])),
                             self.spec.num_workers, self.spec.seed)
        self.featurizer.eval()
        self.head.eval()
        predictions = []
        with torch.no_grad():
            for batch in loader:
                features, lengths = self._features(batch)
                predictions.extend(self.task.predict(self.head, features, lengths, batch))
                self.progress.eval_frames += int(lengths.sum())
        return {name: float(value) for name, value in self.task.summarize(predictions).items()}

    def _evaluate_dev(self) -> None:
        dev = self.evaluate("dev")
        primary = dev[self.task.primary]
        best = self.progress.best_dev.get(self.task.primary)
        steps_since_eval = self.progress.step - (self.progress.history[-1]["step"] if self.progress.history else 0)
        train_loss = self.progress.loss_since_eval / steps_since_eval
        self.progress.history.append({"step": self.progress.step, "train_loss": train_loss, **dev})
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
            training_batches(len(self.items["train"]), int(settings["batch_size"]), self.spec.seed,
                             self.progress.step * int(settings["accumulate"])),
            self.spec.num_workers, self.spec.seed,
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
        best = torch.load(self.best_path, map_location=self.device, weights_only=False)
        self.featurizer.load_state_dict(best["featurizer"])
        self.head.load_state_dict(best["head"])
        self.progress.wall_time_s = earlier_attempts_s + time.perf_counter() - started

    def macs(self) -> dict:
        """Downstream MACs of this run (see MACS_METHOD)."""
        item = self.items["train"][0]
        batch = self.task.collate([item])
        self.featurizer.eval()
        with torch.no_grad():
            features, lengths = self._features(batch)
        head = head_macs_per_frame(self.task, self.head, features, lengths, batch)
        featurizer = self.featurizer.macs_per_frame(int(self.store.attrs["dim"]))
        per_frame = head + featurizer
        return {
            "train": int(TRAIN_MACS_PER_FORWARD * per_frame * self.progress.train_frames),
            "eval": int(per_frame * self.progress.eval_frames),
            "head_per_frame": head, "featurizer_per_frame": featurizer,
            "train_frames": self.progress.train_frames, "eval_frames": self.progress.eval_frames,
            "method": MACS_METHOD,
        }


def run(spec: RunSpec, store, records: dict[str, list[dict]]) -> dict:
    """Train, pick the best dev checkpoint, evaluate test, write and return metrics.json."""
    trainer = Trainer(spec, store, records)
    trainer.fit()
    started = time.perf_counter()
    test = trainer.evaluate("test")
    progress = trainer.progress
    result = {
        "model": spec.model, "task": spec.task, "protocol": spec.protocol, "sampling": spec.sampling,
        "seed": spec.seed,
        "metrics": {"dev": progress.best_dev, "test": test},
        "primary": trainer.task.primary, "higher_is_better": trainer.task.higher_is_better,
        "steps": progress.step, "best_step": progress.best_step,
        "wall_time_s": progress.wall_time_s + time.perf_counter() - started,
        "device": str(trainer.device),
        "layer_weights": trainer.featurizer.layer_weights(),
        "dev_history": progress.history,
        "utterances": {split: len(split_records) for split, split_records in records.items()},
        "config": {
            "protocol": spec.protocol, "settings": spec.settings, "sampling": spec.sampling,
            "seed": spec.seed, "model": spec.model, "model_hash": store.attrs.get("model_hash"),
            "store": str(getattr(store, "path", "")),
        },
        "macs": trainer.macs(),
    }
    write_json_atomic(spec.out_dir / "metrics.json", result)
    return result


# --- command line --------------------------------------------------------------------------------


def summary_model_hash(path: Path) -> str:
    try:
        summary = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise MinisuperbError(f"cannot read the store summary {path}: {error}. Rerun the extraction.") from error
    if "model_hash" not in summary:
        raise MinisuperbError(f"store summary {path} has no 'model_hash'; rerun the extraction.")
    return summary["model_hash"]


def parse_settings(text: str) -> dict:
    try:
        settings = json.loads(text)
    except ValueError as error:
        raise MinisuperbError(f"--settings is not valid JSON: {error}") from error
    if not isinstance(settings, dict):
        raise MinisuperbError("--settings must be a JSON object of task settings.")
    return settings


def train_command(args: argparse.Namespace) -> None:
    from minisuperb.store import FeatureStore

    set_threads(args.threads)
    model_hash = args.model_hash or (summary_model_hash(args.store_summary) if args.store_summary else None)
    store = FeatureStore.open(args.store, model_hash)
    records = {split: load_split(args.manifest_dir, args.subset_dir, split) for split in SPLITS}
    spec = RunSpec(
        task=args.task, model=args.model, protocol=args.protocol, sampling=args.sampling, seed=args.seed,
        settings=parse_settings(args.settings), out_dir=Path(args.out_dir), device=resolve_device(args.device),
        num_workers=args.workers, stop_after_steps=args.stop_after_steps,
    )
    result = run(spec, store, records)
    log.info("%s/%s test %s (best dev step %d)", args.model, args.task, result["metrics"]["test"], result["best_step"])


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train one downstream head on stored features; writes metrics.json",
        description="Train one downstream head (one protocol, sampling, seed, model, task) and write "
                    "OUT_DIR/metrics.json. Resumes from OUT_DIR/checkpoint-last.pt when it exists.",
    )
    parser.add_argument("--task", required=True, choices=list(TASKS))
    parser.add_argument("--model", required=True, help="model name (a key of the config's models:)")
    parser.add_argument("--store", required=True, type=Path, help="feature store results/features/M/T.zarr")
    parser.add_argument("--store-summary", type=Path, help="extraction summary JSON: its model_hash must match the store")
    parser.add_argument("--model-hash", help="expected model hash of the store (instead of --store-summary)")
    parser.add_argument("--manifest-dir", required=True, type=Path, help="results/data/T/manifest")
    parser.add_argument("--subset-dir", required=True, type=Path, help="results/data/T/subsets/SAMPLING/seedS")
    parser.add_argument("--protocol", required=True, help="protocol name (recorded in metrics.json)")
    parser.add_argument("--sampling", required=True, help="sampling name (recorded in metrics.json)")
    parser.add_argument("--settings", required=True, help="JSON: the resolved settings of this task under the protocol")
    parser.add_argument("--seed", required=True, type=int, help="training seed (initialisation, batch order)")
    parser.add_argument("--out-dir", required=True, type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:N")
    parser.add_argument("--workers", type=int, default=0, help="data loader worker processes")
    parser.add_argument("--stop-after-steps", type=int, help="stop after this step as if preempted (for tests)")
    parser.set_defaults(func=train_command)

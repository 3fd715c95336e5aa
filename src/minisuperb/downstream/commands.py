"""Sub-command of the downstream stage: `train` (one head on stored features -> metrics.json).

Torch and the store are imported by the handler, not here: building the parser stays cheap.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
from pathlib import Path

from minisuperb.catalog import SPLITS, TASK_NAMES
from minisuperb.config import json_object, seed
from minisuperb.errors import MinisuperbError
from minisuperb.runtime import resolve_device, set_threads

log = logging.getLogger(__name__)


def summary_model_hash(path: Path) -> str:
    try:
        summary = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise MinisuperbError(f"cannot read the store summary {path}: {error}. Rerun the extraction.") from error
    if "model_hash" not in summary:
        raise MinisuperbError(f"store summary {path} has no 'model_hash'; rerun the extraction.")
    return summary["model_hash"]


def train_command(args: argparse.Namespace) -> None:
    from minisuperb.downstream.data import load_split
    from minisuperb.downstream.loop import RunSpec, run
    from minisuperb.store import FeatureStore

    set_threads(args.threads)  # after the imports, so that torch is bound directly
    if args.workers < 0:
        raise MinisuperbError(f"--workers must be 0 (load in this process) or more, got {args.workers}.")
    if args.item_memory_gb < 0:
        raise MinisuperbError(f"--item-memory-gb must be 0 (make every item again each time) or more, "
                              f"got {args.item_memory_gb}.")
    model_hash = args.model_hash or (summary_model_hash(args.store_summary) if args.store_summary else None)
    store = FeatureStore.open(args.store, model_hash)
    records = {split: load_split(args.manifest_dir, args.subset_dir, split) for split in SPLITS}
    spec = RunSpec(
        task=args.task, model=args.model, protocol=args.protocol, sampling=args.sampling, seed=args.seed,
        train_seed=args.train_seed, settings=json_object(args.settings, "--settings"), out_dir=Path(args.out_dir),
        device=resolve_device(args.device), num_workers=args.workers, item_memory_bytes=int(args.item_memory_gb * 1e9),
        stop_after_steps=args.stop_after_steps,
    )
    with exclusive(spec.out_dir):
        result = run(spec, store, records)
    log.info("%s/%s test %s (best dev step %d)", args.model, args.task, result["metrics"]["test"], result["best_step"])


TRAIN_LOCK = ".train.lock"


@contextlib.contextmanager
def exclusive(out_dir: Path):
    """Hold an exclusive lock on the run folder while training: a second job for the same head
    (a second Snakemake run in this folder: Snakemake 9.27 deletes every run's locks when any run
    ends, so it does not always refuse one) fails at once instead of writing the same checkpoints.
    The lock dies with the process, a `kill -9` included."""
    out_dir.mkdir(parents=True, exist_ok=True)
    handle = open(out_dir / TRAIN_LOCK, "a+")  # noqa: SIM115 (the lock lives with the handle)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MinisuperbError(
                f"another job is training this head in {out_dir} right now (it holds {out_dir / TRAIN_LOCK}): "
                "two runs of the workflow in one folder? Let the other one finish (`ps aux | grep "
                "'minisuperb train'`), then rerun snakemake: the head is then complete, or resumed from its "
                "last checkpoint.") from None
        yield
    finally:
        handle.close()


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train one downstream head on stored features; writes metrics.json",
        description="Train one downstream head (one protocol, sampling, sampling seed, training seed, "
                    "model, task) and write OUT_DIR/metrics.json. Resumes from OUT_DIR/checkpoint-last.pt "
                    "when it exists.",
    )
    parser.add_argument("--task", required=True, choices=TASK_NAMES)
    parser.add_argument("--model", required=True, help="model name (a key of the config's models:)")
    parser.add_argument("--store", required=True, type=Path, help="feature store results/features/M/T.zarr")
    parser.add_argument("--store-summary", type=Path, help="extraction summary JSON: its model_hash must match the store")
    parser.add_argument("--model-hash", help="expected model hash of the store (instead of --store-summary)")
    parser.add_argument("--manifest-dir", required=True, type=Path, help="results/data/T/manifest")
    parser.add_argument("--subset-dir", required=True, type=Path, help="results/data/T/subsets/SAMPLING/seedS")
    parser.add_argument("--protocol", required=True, help="protocol name (recorded in metrics.json)")
    parser.add_argument("--sampling", required=True, help="sampling name (recorded in metrics.json)")
    parser.add_argument("--settings", required=True, help="JSON: the resolved settings of this task under the protocol")
    parser.add_argument("--seed", required=True, type=seed,
                        help="sampling seed of the subset lists (recorded in metrics.json as `seed`)")
    parser.add_argument("--train-seed", required=True, type=seed,
                        help="training seed: initialisation, batch order, dropout and SpecAugment")
    parser.add_argument("--out-dir", required=True, type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:N")
    parser.add_argument("--workers", type=int, default=0,
                        help="data loader worker processes (spawned: the store's zarr reader does not survive a fork)")
    parser.add_argument("--item-memory-gb", type=float, default=0.0,
                        help="keep made items (features, audio, targets) in memory up to this many GB per process")
    parser.add_argument("--stop-after-steps", type=int, help="stop after this step as if preempted (for tests)")
    parser.set_defaults(func=train_command)

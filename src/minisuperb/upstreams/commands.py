"""Sub-commands of the features stage: `extract` and `demo-model`."""

from __future__ import annotations

import argparse

from minisuperb.catalog import TASK_NAMES
from minisuperb.config import json_object, seed
from minisuperb.errors import MinisuperbError
from minisuperb.runtime import set_threads


def register(subparsers) -> None:
    extract = subparsers.add_parser(
        "extract", help="extract one model's features for one task's subset into a Zarr feature store",
        description="Write all hidden states of one model for the utterances of one task's subset lists "
                    "into a feature store (copying what other views of the model and task hold), and "
                    "write its summary JSON.")
    extract.add_argument("--model", required=True, help="model name (the key under `models:`)")
    extract.add_argument("--model-settings", required=True,
                         help="the model's config entry as JSON (loader, name, path, ...)")
    extract.add_argument("--task", required=True, choices=TASK_NAMES)
    extract.add_argument("--manifest-dir", required=True, help="folder of the task's <split>.jsonl manifests")
    extract.add_argument("--subset-dir", required=True,
                         help="folder of the view's subset lists (train.txt, dev.txt, test.txt, lists.json)")
    extract.add_argument("--out", required=True,
                         help="view store to write (<model>/<task>/<sampling>/seed<seed>.zarr); the other views "
                              "under <model>/<task> lend the utterances they hold")
    extract.add_argument("--summary", required=True, help="summary JSON to write (the store attributes)")
    extract.add_argument("--threads", type=int, default=1)
    extract.add_argument("--batch-seconds", type=float, default=None,
                         help="padded audio seconds per batch (default: the model entry's "
                              "`batch_seconds`, else one utterance at a time on CPU and 64 s on GPU)")
    extract.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    extract.set_defaults(func=_extract)

    demo = subparsers.add_parser(
        "demo-model", help="write a tiny randomly initialised transformers model (demo zoo)",
        description="Build a tiny random HuBERT or wav2vec 2.0 and save_pretrained it.")
    demo.add_argument("--kind", required=True, choices=["hubert", "wav2vec2"])
    demo.add_argument("--out", required=True, help="directory to write")
    demo.add_argument("--seed", type=seed, default=0)
    demo.add_argument("--layers", type=int, default=2, help="transformer layers")
    demo.add_argument("--dim", type=int, default=64, help="hidden size")
    demo.add_argument("--threads", type=int, default=1)
    demo.set_defaults(func=_demo_model)


def _extract(args) -> None:
    from minisuperb.upstreams.extract import extract

    set_threads(args.threads)  # after the import, so that torch is bound directly
    if args.batch_seconds is not None and args.batch_seconds <= 0:
        raise MinisuperbError(f"--batch-seconds must be positive, got {args.batch_seconds}.")
    extract(args.model, json_object(args.model_settings, "--model-settings"), args.task, args.manifest_dir, args.subset_dir, args.out,
            args.summary, batch_seconds=args.batch_seconds, device=args.device)


def _demo_model(args) -> None:
    from minisuperb.upstreams.demo_models import build_demo_model

    set_threads(args.threads)
    if args.layers < 1 or args.dim < 32 or args.dim % 32:
        raise MinisuperbError(f"demo-model: --layers must be >= 1 and --dim a multiple of 32 "
                              f"(heads of 32 dims); got --layers {args.layers} --dim {args.dim}.")
    build_demo_model(args.kind, args.out, args.seed, args.layers, args.dim)

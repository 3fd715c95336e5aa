"""Offline feature extraction: the job that writes one feature view.

A view is the feature store of one (model, task, sampling, seed): `extract` copies what other
views of the same model and task hold (`minisuperb.store.reuse`) and has the model compute the
rest (`minisuperb.upstreams.runner`, imported only then: a view that copies everything needs
neither torch nor the model).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from minisuperb.catalog import SPLITS, TASKS
from minisuperb.corpora.audio import TARGET_RATE as SAMPLE_RATE
from minisuperb.corpora.manifest import read_manifest, read_subset_list, select
from minisuperb.errors import MinisuperbError
from minisuperb.files import write_json_atomic
from minisuperb.store import StoreWriter
from minisuperb.store.layout import DEFAULT_STORAGE, STORAGES
from minisuperb.store.reuse import audio_source, donor_stores, extraction_turn, stored_utterances
from minisuperb.upstreams.mac_fit import macs_at_lengths
from minisuperb.upstreams.registry import model_hash

log = logging.getLogger(__name__)

# CPU compute precisions (a model entry's `precision`). On this project's avx512_bf16 CPU,
# bfloat16 autocast runs a Base-size model's forward 2.5x faster than stock float32 but moves
# every layer's features by 1-2% relative (BENCHMARKS.md, "Extraction"), ~50x the float16
# storage rounding, so float32 is the default.
PRECISIONS = ("float32", "bfloat16")


@dataclass(frozen=True)
class Utterance:
    split: str
    utt_id: str
    path: str
    num_samples: int

    @property
    def name(self) -> str:
        return f"{self.split}/{self.utt_id}"

    @property
    def source(self) -> str:
        return audio_source(self.path, self.num_samples)


# --- planning ------------------------------------------------------------------------------------


def read_utterances(manifest_dir: str | Path, subset_dir: str | Path) -> list[Utterance]:
    """The utterances of a view's subset lists, with their audio (`path`) from the manifests."""
    utterances = []
    for split in SPLITS:
        ids = read_subset_list(subset_dir, split)
        if not ids:
            continue
        records = read_manifest(Path(manifest_dir) / f"{split}.jsonl")
        for record in select(records, ids, where=f"{Path(subset_dir) / split}.txt"):
            utterances.append(Utterance(split, record["id"], record["path"], int(record["num_samples"])))
    if not utterances:
        raise MinisuperbError(f"the subset lists in {subset_dir} are empty: nothing to extract. Rerun the data stage.")
    return utterances


def precision_of(entry: dict, model: str) -> str:
    precision = entry.get("precision", "float32")
    if precision not in PRECISIONS:
        raise MinisuperbError(f"model {model!r}: precision {precision!r} is not one of {list(PRECISIONS)}.")
    return precision


def storage_of(entry: dict, model: str) -> str:
    """How the store keeps the values (a model entry's `storage`; see minisuperb.store.layout)."""
    storage = entry.get("storage", DEFAULT_STORAGE)
    if storage not in STORAGES:
        raise MinisuperbError(f"model {model!r}: storage {storage!r} is not one of {list(STORAGES)}.")
    return storage


# --- the job -------------------------------------------------------------------------------------


def extract(model: str, entry: dict, task: str, manifest_dir: str | Path, subset_dir: str | Path,
            out: str | Path, summary_path: str | Path, batch_seconds: float | None = None,
            device: str = "auto") -> dict:
    """Write the view store `out` (`<model>/<task>/<sampling>/seed<seed>.zarr`) of the subset
    lists in `subset_dir`, and its summary. What the other views of this model and task hold is
    copied, the rest extracted (`minisuperb.store.reuse`)."""
    started = time.perf_counter()
    precision = precision_of(entry, model)
    storage = storage_of(entry, model)
    utterances = read_utterances(manifest_dir, subset_dir)
    out, hash_ = Path(out), model_hash(entry)
    folder = out.parent.parent  # <model>/<task>: the views that may share utterances
    with extraction_turn(folder):
        donors = donor_stores(folder, out, hash_, storage)
        stored = stored_utterances(donors)
        new = [u for u in utterances if stored.get((u.split, u.utt_id), (None, None))[1] != u.source]
        new_set = set(new)
        copied = [u for u in utterances if u not in new_set]
        try:
            summary = _write_view(model, entry, task, out, hash_, storage, utterances, new, copied, stored,
                                  batch_seconds, device, precision)
        finally:
            for store in donors:
                store.close()
    summary["wall_time_s"] = time.perf_counter() - started
    write_json_atomic(summary_path, summary)
    log.info("%s/%s: %d utterances extracted (%.1f s of audio), %d copied from other views; %d bytes on disk",
             model, task, summary["extracted_utterances"], summary["extracted_audio_seconds"],
             summary["copied_utterances"], summary["bytes_on_disk"])
    return summary


def _write_view(model, entry, task, out, hash_, storage, utterances, new, copied, stored, batch_seconds,
                device, precision) -> dict:
    lengths = [u.num_samples for u in utterances]
    new_seconds = sum(u.num_samples for u in new) / SAMPLE_RATE
    # The view that lends the first copied utterance also lends its MAC fit and extraction rate.
    donor = stored[(copied[0].split, copied[0].utt_id)][0].attrs if copied else None
    if new:
        # Imported here: a view that only copies needs neither torch nor the model (~2 s a job).
        from minisuperb.upstreams.macs import count_macs
        from minisuperb.upstreams.runner import extract_new, load_model

        upstream, torch_device = load_model(model, entry, new, device)
        macs = count_macs(upstream, lengths, torch_device)  # at the view's lengths
        shape = (upstream.num_layers, upstream.dim, upstream.frame_rate)
    else:  # every utterance is stored: no model to load, the donor's fit gives the MACs
        macs = {**macs_at_lengths(donor["macs_coefficients"], lengths),
                **{key: donor[key] for key in ("macs_coefficients", "macs_probe_seconds")}}
        shape = (donor["num_layers"], donor["dim"], donor["frame_rate"])
    log.info("model %s, task %s: %d of %d utterances to extract (%.1f s of audio), %d copied from other views",
             model, task, len(new), len(utterances), new_seconds, len(copied))

    with StoreWriter(out, model, hash_, *shape, pooled=TASKS[task].pooled,
                     attrs={"task": task, "loader": entry["loader"]}, storage=storage) as writer:
        copy_started = time.perf_counter()
        for u in copied:
            writer.add(u.split, u.utt_id, stored[(u.split, u.utt_id)][0].get(u.split, u.utt_id), u.source)
        copy_seconds = time.perf_counter() - copy_started
        computed = extract_new(upstream, torch_device, precision, new, writer,
                               batch_seconds or entry.get("batch_seconds")) if new else {}
        rate = computed.get("audio_seconds_per_second") or donor["audio_seconds_per_second"]
        audio_seconds = sum(lengths) / SAMPLE_RATE
        attrs = writer.close({
            **macs,
            **computed,
            "audio_seconds": audio_seconds,
            "utterances": len(utterances),
            "extracted_utterances": len(new),
            "extracted_audio_seconds": new_seconds,
            "copied_utterances": len(copied),
            "copy_time_s": copy_seconds,
            "audio_seconds_per_second": rate,
            # What extracting this view alone takes at the measured rate: its cost, whatever
            # other views it could copy from.
            "view_extraction_s": audio_seconds / rate,
        })
    return {**attrs, "store": str(out)}

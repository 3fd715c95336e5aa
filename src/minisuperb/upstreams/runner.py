"""Running an upstream on the utterances a feature view has to extract.

On a CPU, by default, the model runs one utterance at a time, so that an utterance's features
depend on its audio alone, not on the utterances that share its batch: with feature views, which
view's job extracts an utterance depends on the order the jobs ran in, and batched float rounding
then moved one demo model's score from run to run. On a GPU (or with a `batch_seconds` budget),
utterances are sorted by length and packed greedily into batches under an audio-seconds budget
(padded samples count), so padding stays small. Batches run under `torch.inference_mode()`: on
GPU with float16 autocast; on CPU in float32 with linear layers on oneDNN, or with bfloat16
autocast if the model entry sets `precision: bfloat16`. Meanwhile one background thread decodes
the next batch's audio and another compresses and writes the previous batch's features.

Batched features must equal one-at-a-time features. Before the first batch, a probe batch of the
shortest utterance and one at least twice as long is compared with the shortest utterance alone;
if they differ beyond the compute precision's tolerance the model depends on padding and this job runs it one
utterance at a time.
"""

from __future__ import annotations

import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from tqdm import tqdm

from minisuperb.corpora import audio
from minisuperb.corpora.audio import TARGET_RATE as SAMPLE_RATE
from minisuperb.errors import MinisuperbError
from minisuperb.runtime import resolve_device
from minisuperb.store import StoreWriter
from minisuperb.upstreams.base import Upstream
from minisuperb.upstreams.extract import Utterance
from minisuperb.upstreams.registry import load_upstream

log = logging.getLogger(__name__)

# Padded audio seconds per batch when neither the model entry nor the command sets it; None: one
# utterance at a time. On the GPU large batches pay. On a CPU one utterance at a time keeps an
# utterance's features independent of its batch-mates (see above) and costs little: it was 5%
# faster than 16 s batches for a Base-size model, 1.8x slower for the demo's tiny HuBERT
# (BENCHMARKS.md, "Extraction").
DEFAULT_BATCH_SECONDS = {"cpu": None, "cuda": 64.0}
# Batched vs alone: allowed max abs difference, relative to the features' magnitude (at least 1),
# by compute precision. float32 differs by ~1e-6 from reordered sums; the store keeps float16
# (~1e-3); float16 and bfloat16 round every matmul.
PROBE_TOLERANCE = {"float32": 1e-3, "float16": 2e-2, "bfloat16": 5e-2}

# oneDNN builds a kernel for each new input shape (~0.4 ms); below this many MACs per call that
# costs more than it saves, e.g. the demo models' 64-dim layers (measured 0.84x there).
ONEDNN_MIN_MACS = 1 << 24


class OneDnnLinear(nn.Linear):
    """nn.Linear on oneDNN's float32 matmul (torch's own CPU linear calls MKL, which runs AVX2
    code on AMD CPUs: 2.3x slower per linear layer on this project's AVX-512 EPYC). The same
    parameters, so code reading `.weight` still works; differs from nn.Linear by ~1e-6."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.numel() * self.out_features < ONEDNN_MIN_MACS:
            return super().forward(x)
        # The private op behind torch.compile's CPU linear; the weight needs no prepacking.
        return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")


def use_onednn_linears(module: nn.Module) -> None:
    """Turn every plain nn.Linear of `module` into a OneDnnLinear, on x86 builds with oneDNN."""
    if not torch.backends.mkldnn.is_available() or torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        return
    for sub in module.modules():
        if type(sub) is nn.Linear:  # not subclasses: they may override forward
            sub.__class__ = OneDnnLinear


@dataclass(frozen=True)
class Batch:
    utterances: list[Utterance]
    wavs: torch.Tensor  # [B, S], zero-padded
    lengths: torch.Tensor  # [B] true sample counts


# --- planning ------------------------------------------------------------------------------------


def by_length(utterances: list[Utterance]) -> list[Utterance]:
    """Shortest first; ties in a fixed order, so that batches and the probe are reproducible."""
    return sorted(utterances, key=lambda u: (u.num_samples, u.split, u.utt_id))


def plan_batches(utterances: list[Utterance], batch_seconds: float) -> list[list[Utterance]]:
    """Sort by length and fill each batch while its padded size stays within the budget."""
    budget = batch_seconds * SAMPLE_RATE
    ordered = by_length(utterances)
    batches: list[list[Utterance]] = []
    current: list[Utterance] = []
    for utterance in ordered:
        # Sorted ascending, so the newcomer is the longest: it sets the padded length.
        if current and (len(current) + 1) * utterance.num_samples > budget:
            batches.append(current)
            current = []
        current.append(utterance)
    if current:
        batches.append(current)
    return batches


def check_lengths(utterances: list[Utterance], min_samples: int, model: str) -> None:
    too_short = [u for u in utterances if u.num_samples < min_samples]
    if too_short:
        first = too_short[0]
        raise MinisuperbError(
            f"{len(too_short)} utterance(s) are shorter than model {model!r}'s receptive field of "
            f"{min_samples} samples ({min_samples / SAMPLE_RATE * 1000:.0f} ms), first: "
            f"{first.name} ({first.path}) with {first.num_samples} samples. Remove them from the "
            "corpus or the subset lists."
        )


def load_batch(utterances: list[Utterance], min_samples: int) -> Batch:
    wavs = []
    for utterance in utterances:
        wav = torch.from_numpy(audio.load(utterance.path))
        if len(wav) < min_samples:
            raise MinisuperbError(
                f"{utterance.name} ({utterance.path}) has {len(wav)} samples, fewer than the "
                f"model's receptive field of {min_samples}, though its manifest says "
                f"{utterance.num_samples}: the manifest is stale. Rerun the data stage."
            )
        wavs.append(wav)
    lengths = torch.tensor([len(wav) for wav in wavs])
    return Batch(utterances, pad_sequence(wavs, batch_first=True), lengths)


# --- running the model ---------------------------------------------------------------------------


class Runner:
    """Runs an upstream on batches and returns each utterance's features `[T, L, D]`. A float32
    CPU runner moves the upstream's linear layers to oneDNN, in place."""

    def __init__(self, upstream: Upstream, device: torch.device, precision: str = "float32"):
        self.upstream = upstream
        self.device = device
        # GPUs always run float16 autocast; `precision` is the CPU's.
        self.precision = "float16" if device.type == "cuda" else precision
        self.dtype = getattr(torch, self.precision)
        self.one_at_a_time = False
        if self.dtype == torch.float32:
            use_onednn_linears(upstream)

    def features(self, wavs: torch.Tensor, lengths: torch.Tensor) -> list[np.ndarray]:
        if self.one_at_a_time and len(lengths) > 1:
            return [self._run(wavs[i : i + 1, : lengths[i]], lengths[i : i + 1])[0] for i in range(len(lengths))]
        return self._run(wavs, lengths)

    def _run(self, wavs: torch.Tensor, lengths: torch.Tensor) -> list[np.ndarray]:
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
            layers, frame_lengths = self.upstream(wavs.to(self.device), lengths.to(self.device))
            stacked = torch.stack(layers, dim=2).float().cpu()  # [B, T, L, D]
        return [stacked[i, :count].numpy() for i, count in enumerate(frame_lengths.tolist())]

    def probe_padding(self, probe: Batch) -> tuple[float, list[np.ndarray | None]]:
        """Compare the shortest utterance in the padded probe batch with it alone; switch to
        one-at-a-time extraction when they differ beyond the tolerance. Returns the relative max
        difference and, per probe utterance, its features if they are fit to store (else None),
        so that the probe's work is not thrown away."""
        shortest = int(torch.argmin(probe.lengths))
        batched = self._run(probe.wavs, probe.lengths)
        length = probe.lengths[shortest : shortest + 1]
        alone = self._run(probe.wavs[shortest : shortest + 1, :length], length)[0]
        if batched[shortest].shape != alone.shape:
            difference = float("inf")
        else:
            difference = float(np.abs(batched[shortest] - alone).max() / max(1.0, np.abs(alone).max()))
        self.one_at_a_time = difference > PROBE_TOLERANCE[self.precision]
        if self.one_at_a_time:
            log.warning(
                "padding changes this model's features (shortest utterance %s: %s frames batched, "
                "%s alone, relative max difference %.3g): extracting one utterance at a time",
                probe.utterances[shortest].name, batched[shortest].shape[0], alone.shape[0], difference,
            )
        fit = [None if self.one_at_a_time else features for features in batched]
        fit[shortest] = alone
        return difference, fit


def load_model(model: str, entry: dict, utterances: list[Utterance], device: str) -> tuple[Upstream, torch.device]:
    """The model on its device, after checking that `utterances` are long enough for it."""
    upstream = load_upstream(entry, where=f"model {model!r}")
    check_lengths(utterances, upstream.min_samples, model)
    torch_device = torch.device(resolve_device(device))
    return upstream.to(torch_device), torch_device


def extract_new(upstream: Upstream, torch_device: torch.device, precision: str, new: list[Utterance],
                writer: StoreWriter, batch_seconds: float | None) -> dict:
    """Extract the utterances no other view holds into `writer`; returns how it went (for the
    summary). `batch_seconds` None: the device's default."""
    batch_seconds = batch_seconds or DEFAULT_BATCH_SECONDS[torch_device.type]
    runner = Runner(upstream, torch_device, precision)
    started = time.perf_counter()
    if batch_seconds is None:
        runner.one_at_a_time = True
        probe_difference, batches = None, [[u] for u in by_length(new)]
    else:
        probe_difference, probed = _probe(runner, new, upstream.min_samples)
        for utterance, features in probed.items():
            writer.add(utterance.split, utterance.utt_id, features, utterance.source)
        batches = plan_batches([u for u in new if u not in probed], float(batch_seconds))
    _extract_batches(runner, batches, writer, upstream.min_samples)
    seconds = time.perf_counter() - started
    return {
        "batch_seconds": batch_seconds,
        "batching": "one_at_a_time" if runner.one_at_a_time else "length_bucketed",
        "padding_probe_difference": probe_difference,
        "device": str(torch_device),
        "precision": runner.precision,
        "threads": torch.get_num_threads(),
        "extraction_time_s": seconds,
        "audio_seconds_per_second": sum(u.num_samples for u in new) / SAMPLE_RATE / seconds,
    }


def _probe(runner: Runner, utterances: list[Utterance], min_samples: int) -> tuple[float | None, dict]:
    """Probe with the shortest utterance and a partner at least twice as long (so at least half
    of the shortest's padded row is padding), the shortest such partner to keep the probe cheap.
    Returns the probe's difference and {utterance: features} of the probe utterances it extracted."""
    ordered = by_length(utterances)
    shortest, longest = ordered[0], ordered[-1]
    if shortest.num_samples == longest.num_samples:
        return None, {}  # no batch of this job has padding
    partner = next((u for u in ordered if u.num_samples >= 2 * shortest.num_samples), longest)
    difference, features = runner.probe_padding(load_batch([shortest, partner], min_samples))
    extracted = {u: f for u, f in zip([shortest, partner], features) if f is not None}
    return difference, extracted


def _extract_batches(runner: Runner, batches: list[list[Utterance]], writer: StoreWriter,
                     min_samples: int) -> None:
    if not batches:
        return
    audio_seconds = sum(u.num_samples for batch in batches for u in batch) / SAMPLE_RATE
    progress = tqdm(total=audio_seconds, unit="audio s", file=sys.stderr, mininterval=5.0, desc="extract",
                    bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} audio s [{elapsed}<{remaining}, {rate_fmt}]")
    # One thread decodes the next batch and one compresses and writes the previous one while the
    # model runs on this one; at most one batch waits on each side, which bounds the memory.
    with ThreadPoolExecutor(max_workers=1) as reader, ThreadPoolExecutor(max_workers=1) as storer, progress:
        pending = reader.submit(load_batch, batches[0], min_samples)
        stored = None
        for index in range(len(batches)):
            batch = pending.result()
            if index + 1 < len(batches):
                pending = reader.submit(load_batch, batches[index + 1], min_samples)
            features = runner.features(batch.wavs, batch.lengths)
            if stored is not None:
                stored.result()  # raises the previous batch's write error, e.g. a full disk
            stored = storer.submit(_store, writer, batch.utterances, features)
            progress.update(float(batch.lengths.sum()) / SAMPLE_RATE)
        stored.result()


def _store(writer: StoreWriter, utterances: list[Utterance], features: list[np.ndarray]) -> None:
    for utterance, rows in zip(utterances, features):
        writer.add(utterance.split, utterance.utt_id, rows, utterance.source)

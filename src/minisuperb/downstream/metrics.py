"""Evaluation metrics, in the units of the SUPERB tables.

`wer`, `cer`, `accuracy` and `stoi` return percent; `pesq_wb` the raw wide-band PESQ score;
`si_sdr` and `si_sdr_improvement` decibels. Each function is pure and scores one split (text
metrics) or one utterance (signal metrics); the tasks average utterance scores over a split.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np

from minisuperb.corpora.audio import TARGET_RATE as SAMPLE_RATE
from minisuperb.errors import MinisuperbError

# pb_bss_eval's constant (used by asteroid, hence by s3prl's SE/SS evaluation).
SI_SDR_EPS = 1e-8
# The lowest wide-band PESQ: ITU-T P.862.2's mapping of the lowest raw P.862 score (-0.5),
# 0.999 + 4 / (1 + exp(-1.3669 x + 3.8224)), about 1.04.
PESQ_WB_FLOOR = 0.999 + 4.0 / (1.0 + math.exp(-1.3669 * -0.5 + 3.8224))


class PesqError(MinisuperbError):
    """The PESQ library could not score a pair (e.g. a silent estimate)."""


def edit_distance(reference: Sequence[Hashable], hypothesis: Sequence[Hashable]) -> int:
    """Levenshtein distance (substitutions, insertions, deletions all cost 1).

    One numpy pass per reference token: the substitution/deletion step is elementwise, and the
    insertion chain within a row, cur[j] = min_k(tmp[k] + j - k), is a running minimum of
    tmp - j.
    """
    vocabulary: dict[Hashable, int] = {}
    ref = np.array([vocabulary.setdefault(token, len(vocabulary)) for token in reference], dtype=np.int64)
    hyp = np.array([vocabulary.setdefault(token, len(vocabulary)) for token in hypothesis], dtype=np.int64)
    positions = np.arange(len(hyp) + 1)
    row = positions.copy()
    for i, token in enumerate(ref, start=1):
        candidates = np.empty_like(row)
        candidates[0] = i
        candidates[1:] = np.minimum(row[1:] + 1, row[:-1] + (hyp != token))
        row = np.minimum.accumulate(candidates - positions) + positions
    return int(row[-1])


def _check_pairs(name: str, first: Sequence, second: Sequence, first_name: str, second_name: str) -> None:
    if len(first) != len(second):
        raise MinisuperbError(
            f"{name}: {len(first)} {first_name} but {len(second)} {second_name}; "
            "pass one per utterance, in the same order."
        )
    if len(first) == 0:
        raise MinisuperbError(f"{name}: no utterances to score; the evaluation split is empty.")


def _error_rate(name: str, refs: Sequence[str], hyps: Sequence[str], tokenize) -> float:
    _check_pairs(name, refs, hyps, "references", "hypotheses")
    ref_tokens = [tokenize(text) for text in refs]
    total = sum(len(tokens) for tokens in ref_tokens)
    if total == 0:
        raise MinisuperbError(f"{name}: every reference transcript is empty; check the manifest's transcripts.")
    edits = sum(edit_distance(ref, tokenize(hyp)) for ref, hyp in zip(ref_tokens, hyps))
    return 100.0 * edits / total


def _words(text: str) -> list[str]:
    return text.split()


def _characters(text: str) -> list[str]:
    # Words joined by single spaces, so the spaces between words count as characters (as in
    # s3prl's CER over the decoded string with word separators); runs of whitespace count once.
    return list(" ".join(text.split()))


def wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus word error rate in percent: 100 * total word edits / total reference words."""
    return _error_rate("WER", refs, hyps, _words)


def cer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus character error rate in percent; single spaces between words are characters."""
    return _error_rate("CER", refs, hyps, _characters)


def accuracy(labels: Sequence[int], predictions: Sequence[int]) -> float:
    """Percent of predictions equal to their label."""
    _check_pairs("accuracy", labels, predictions, "labels", "predictions")
    correct = np.asarray(labels) == np.asarray(predictions)
    return 100.0 * float(correct.mean())


def _signal_pair(name: str, reference: np.ndarray, estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    reference = np.asarray(reference, dtype=np.float64)
    estimate = np.asarray(estimate, dtype=np.float64)
    if reference.ndim != 1 or reference.shape != estimate.shape:
        raise MinisuperbError(
            f"{name}: reference {reference.shape} and estimate {estimate.shape} must be 1-D signals of "
            "the same length; trim or pad the estimate to the reference length."
        )
    if reference.size == 0:
        raise MinisuperbError(f"{name}: empty signal; check the audio file.")
    return reference, estimate


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB, as pb_bss_eval computes it: zero-mean both signals, project
    the estimate on the reference (alpha = <s, s_hat> / (|s|^2 + eps)), and take
    10 log10(|alpha s|^2 / (|s_hat - alpha s|^2 + eps) + eps)."""
    reference, estimate = _signal_pair("SI-SDR", reference, estimate)
    reference = reference - reference.mean()
    estimate = estimate - estimate.mean()
    alpha = np.dot(reference, estimate) / (np.dot(reference, reference) + SI_SDR_EPS)
    target = alpha * reference
    residual = estimate - target
    ratio = np.dot(target, target) / (np.dot(residual, residual) + SI_SDR_EPS)
    return float(10.0 * np.log10(ratio + SI_SDR_EPS))


def si_sdr_improvement(reference: np.ndarray, estimate: np.ndarray, mixture: np.ndarray) -> float:
    """SI-SDR of the estimate minus SI-SDR of the unprocessed input (mixture or noisy signal)."""
    return si_sdr(reference, estimate) - si_sdr(reference, mixture)


def pesq_wb(reference: np.ndarray, estimate: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """Wide-band PESQ (ITU-T P.862.2) of the estimate against the clean reference, raw score."""
    from pesq import pesq

    reference, estimate = _signal_pair("PESQ", reference, estimate)
    try:
        return float(pesq(rate, reference, estimate, "wb"))
    except Exception as error:  # the C library raises NoUtterancesError, ValueError (silent estimate), ...
        raise PesqError(
            f"PESQ failed ({type(error).__name__}: {error}); PESQ needs audible speech in both the "
            "reference and the estimate at 8 or 16 kHz. Check for silent or near-silent audio."
        ) from error


def stoi(reference: np.ndarray, estimate: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """Short-time objective intelligibility (pystoi, classic STOI) in percent."""
    from pystoi import stoi as pystoi_stoi

    reference, estimate = _signal_pair("STOI", reference, estimate)
    return 100.0 * float(pystoi_stoi(reference, estimate, rate, extended=False))

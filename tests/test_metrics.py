"""Metric functions against independent references: jiwer, the pesq and pystoi packages, and
SI-SDR values computed by hand."""

from __future__ import annotations

import jiwer
import numpy as np
import pytest
from pesq import pesq as pesq_package
from pystoi import stoi as pystoi_package

from minisuperb.downstream import metrics
from minisuperb.errors import MinisuperbError

RATE = 16_000

SENTENCE_SETS = [
    # substitutions only
    (["THE CAT SAT ON THE MAT", "A DOG"], ["THE CAT SAT IN THE HAT", "A DOG"]),
    # insertions and deletions
    (["HELLO WORLD", "GOOD MORNING TO YOU"], ["HELLO BIG WIDE WORLD", "GOOD TO"]),
    # an empty hypothesis (every reference word deleted) next to a perfect one
    (["NOTHING WAS DECODED HERE", "PERFECT"], ["", "PERFECT"]),
    # a hypothesis longer than its reference: error rates above 100 % are possible
    (["YES"], ["NO NO NO"]),
    # apostrophes and repeated words
    (["IT'S ALL ALL RIGHT", "DON'T STOP"], ["ITS ALL RIGHT", "DON'T DON'T STOP"]),
]


@pytest.mark.parametrize("refs, hyps", SENTENCE_SETS)
def test_wer_and_cer_equal_jiwer(refs, hyps):
    assert metrics.wer(refs, hyps) == pytest.approx(100 * jiwer.wer(refs, hyps))
    assert metrics.cer(refs, hyps) == pytest.approx(100 * jiwer.cer(refs, hyps))


def test_wer_is_corpus_level_not_a_mean_of_utterance_rates():
    # 1 error in a 1-word reference, 0 in a 9-word one: 10 %, not the 50 % an utterance mean gives
    refs = ["ONE", "A B C D E F G H I"]
    assert metrics.wer(refs, ["TWO", "A B C D E F G H I"]) == pytest.approx(10.0)


def test_cer_counts_spaces_between_words_once():
    assert metrics.cer(["AB  CD "], ["AB CD"]) == 0.0
    assert metrics.cer(["AB CD"], ["ABCD"]) == pytest.approx(100 * 1 / 5)


def test_edit_distance_on_random_sequences_matches_jiwer_word_alignment():
    rng = np.random.default_rng(0)
    for _ in range(200):
        ref = list(rng.choice(list("abcd"), size=rng.integers(1, 12)))
        hyp = list(rng.choice(list("abcd"), size=rng.integers(0, 12)))
        output = jiwer.process_words(" ".join(ref), " ".join(hyp))
        assert metrics.edit_distance(ref, hyp) == output.substitutions + output.deletions + output.insertions


def test_accuracy():
    assert metrics.accuracy([1, 2, 3, 4], [1, 2, 0, 4]) == pytest.approx(75.0)
    assert metrics.accuracy([7], [7]) == 100.0


@pytest.mark.parametrize(
    "call",
    [
        lambda: metrics.wer(["A B"], ["A", "B"]),
        lambda: metrics.cer([], []),
        lambda: metrics.wer(["", " "], ["A", "B"]),
        lambda: metrics.accuracy([1, 2], [1]),
        lambda: metrics.accuracy([], []),
        lambda: metrics.si_sdr(np.ones(10), np.ones(9)),
        lambda: metrics.si_sdr(np.ones((2, 5)), np.ones((2, 5))),
        lambda: metrics.si_sdr(np.ones(0), np.ones(0)),
        lambda: metrics.stoi(np.ones(10), np.ones(11)),
    ],
)
def test_bad_input_raises_a_user_error(call):
    with pytest.raises(MinisuperbError):
        call()


def orthogonal_noise(reference: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean noise with no component along the (zero-mean) reference."""
    noise = rng.standard_normal(reference.shape[0])
    noise -= noise.mean()
    return noise - reference * np.dot(noise, reference) / np.dot(reference, reference)


def scaled_to_ratio(reference: np.ndarray, noise: np.ndarray, ratio_db: float) -> np.ndarray:
    return noise * np.sqrt(np.sum(reference**2) / np.sum(noise**2) / 10 ** (ratio_db / 10))


@pytest.mark.parametrize("ratio_db", [-5.0, 0.0, 12.5, 30.0])
def test_si_sdr_of_reference_plus_orthogonal_noise_is_the_energy_ratio(ratio_db):
    rng = np.random.default_rng(1)
    reference = rng.standard_normal(8000)
    reference -= reference.mean()
    noise = scaled_to_ratio(reference, orthogonal_noise(reference, rng), ratio_db)
    assert metrics.si_sdr(reference, reference + noise) == pytest.approx(ratio_db, abs=1e-6)


def test_si_sdr_is_invariant_to_gain_and_offset_but_not_to_distortion():
    rng = np.random.default_rng(2)
    reference = rng.standard_normal(4000)
    estimate = reference + 0.3 * rng.standard_normal(4000)
    value = metrics.si_sdr(reference, estimate)
    assert metrics.si_sdr(reference, 5.0 * estimate + 0.7) == pytest.approx(value, abs=1e-9)
    assert metrics.si_sdr(3.0 * reference, estimate) == pytest.approx(value, abs=1e-9)
    assert metrics.si_sdr(reference, estimate + 0.3 * rng.standard_normal(4000)) < value - 1.0


def test_si_sdr_improvement_is_output_minus_input_si_sdr():
    rng = np.random.default_rng(3)
    reference = rng.standard_normal(8000)
    reference -= reference.mean()
    noise = orthogonal_noise(reference, rng)
    mixture = reference + scaled_to_ratio(reference, noise, 0.0)
    estimate = reference + scaled_to_ratio(reference, noise, 9.0)
    assert metrics.si_sdr_improvement(reference, estimate, mixture) == pytest.approx(9.0, abs=1e-6)


def speech_like(seconds: float, seed: int) -> np.ndarray:
    """A voiced, syllable-rate amplitude-modulated harmonic signal that PESQ treats as speech."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    pitch = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 3.5 * t + rng.uniform(0, np.pi)), 0, None)
    return (0.3 * voiced * envelope).astype(np.float32)


def test_pesq_wb_equals_the_package_and_ranks_degradations():
    clean = speech_like(2.0, seed=4)
    noise = np.random.default_rng(4).standard_normal(clean.shape[0]).astype(np.float32)
    slightly_noisy = clean + 0.01 * noise
    very_noisy = clean + 0.3 * noise
    assert metrics.pesq_wb(clean, slightly_noisy) == pytest.approx(pesq_package(RATE, clean, slightly_noisy, "wb"), abs=1e-6)
    assert metrics.pesq_wb(clean, clean) > 4.0
    assert metrics.pesq_wb(clean, very_noisy) < 2.0
    assert metrics.pesq_wb(clean, clean) > metrics.pesq_wb(clean, slightly_noisy) > metrics.pesq_wb(clean, very_noisy)


def test_pesq_on_silent_audio_raises_a_user_error():
    clean = speech_like(1.0, seed=5)
    with pytest.raises(MinisuperbError, match="PESQ"):
        metrics.pesq_wb(np.zeros_like(clean), clean)


def test_stoi_is_pystoi_in_percent():
    clean = speech_like(2.0, seed=6)
    noise = np.random.default_rng(6).standard_normal(clean.shape[0]).astype(np.float32)
    noisy = clean + 0.2 * noise
    assert metrics.stoi(clean, noisy) == pytest.approx(100 * pystoi_package(clean, noisy, RATE, extended=False), abs=1e-6)
    assert metrics.stoi(clean, clean) > 99.0
    assert metrics.stoi(clean, noise) < 30.0

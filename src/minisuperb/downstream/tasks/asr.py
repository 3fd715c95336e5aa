"""ASR: character CTC over a BiLSTM, greedy decoding, corpus-level WER and CER.

The head follows s3prl's `asr` downstream (MiniSUPERB sizes by default): Linear(D -> projector)
-> BiLSTM (`layers` x `hidden` per direction, dropout after every layer) -> Linear to the
characters. The 32 classes and the targets are s3prl's: fairseq's special symbols `<s>` (the CTC
blank), `<pad>`, `</s>`, `<unk>`, then char.dict (the word separator `|`, the letters by frequency,
the apostrophe); a target is the words joined by `|`, a final `|`, then `</s>` (fairseq's
`encode_line` appends it), as in s3prl/downstream/asr/dataset.py and its char.dict.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from minisuperb.downstream import metrics
from minisuperb.downstream.tasks.base import BiLstm, DownstreamTask, pad_features
from minisuperb.errors import MinisuperbError

BLANK = "<s>"  # fairseq's bos, s3prl's CTC blank
END = "</s>"
WORD_SEPARATOR = "|"
CHARACTERS = "ETAONIHSRDLUMCWFGYPBVK'XJQZ"
VOCABULARY = (BLANK, "<pad>", END, "<unk>", WORD_SEPARATOR, *CHARACTERS)
TOKEN_IDS = {token: index for index, token in enumerate(VOCABULARY)}
# Decoding drops what fairseq's Dictionary.string drops: the blank (bos) and the end symbol.
SILENT_IDS = {TOKEN_IDS[BLANK], TOKEN_IDS[END]}


def encode_transcript(transcript: str, utterance_id: str = "") -> list[int]:
    """Upper-case words joined by `|`, then `|` and `</s>` -> token ids. Unknown characters are
    an error (the corpus reader should have normalised them)."""
    words = transcript.upper().split()
    if not words:
        raise MinisuperbError(f"transcript of utterance {utterance_id!r} is empty; remove the utterance.")
    text = "".join(f"{word}{WORD_SEPARATOR}" for word in words)
    unknown = sorted({char for char in text if char not in TOKEN_IDS})
    if unknown:
        raise MinisuperbError(
            f"transcript of utterance {utterance_id!r} has characters outside the ASR vocabulary "
            f"{unknown}: only letters, apostrophes and spaces are allowed. Fix the transcript file."
        )
    return [TOKEN_IDS[char] for char in text] + [TOKEN_IDS[END]]


def greedy_decode(log_probs: Tensor, length: int) -> str:
    """Best path: argmax per frame, merge repeats, drop blanks and `</s>`, `|` -> space."""
    best = torch.unique_consecutive(log_probs[:length].argmax(dim=-1)).tolist()
    text = "".join(VOCABULARY[index] for index in best if index not in SILENT_IDS)
    return " ".join(text.replace(WORD_SEPARATOR, " ").split())


class CtcHead(nn.Module):
    def __init__(self, dim: int, projector: int, hidden: int, layers: int, dropout: float, classes: int):
        super().__init__()
        self.projector = nn.Linear(dim, projector)
        self.lstm = BiLstm(projector, hidden, layers, dropout)
        self.dropout = nn.Dropout(dropout)  # s3prl also drops out after the last layer
        self.output = nn.Linear(2 * hidden, classes)

    def forward(self, features: Tensor, lengths: Tensor) -> Tensor:
        """[B, T, D] -> log-probabilities [B, T, classes]."""
        hidden = self.lstm(self.projector(features), lengths)
        return F.log_softmax(self.output(self.dropout(hidden)), dim=-1)


class AsrTask(DownstreamTask):
    name = "asr"
    metric_names = ("wer", "cer")
    primary = "wer"
    higher_is_better = False

    def make_item(self, record: dict, features) -> dict:
        return {
            "features": features,
            "tokens": torch.tensor(encode_transcript(record["transcript"], record["id"]), dtype=torch.long),
            "transcript": " ".join(record["transcript"].upper().split()),
        }

    def collate(self, items: list[dict]) -> dict:
        features, lengths = pad_features(items)
        return {
            "features": features,
            "lengths": lengths,
            "tokens": torch.cat([item["tokens"] for item in items]),
            "token_lengths": torch.tensor([len(item["tokens"]) for item in items], dtype=torch.long),
            "transcripts": [item["transcript"] for item in items],
        }

    def build_head(self, dim: int) -> nn.Module:
        settings = self.settings
        return CtcHead(
            dim, settings["projector"], settings["hidden"], settings["layers"], settings["dropout"], len(VOCABULARY)
        )

    def loss(self, head, features, lengths, batch) -> Tensor:
        log_probs = head(features, lengths)
        return F.ctc_loss(
            log_probs.transpose(0, 1), batch["tokens"].to(features.device), lengths,
            batch["token_lengths"], blank=TOKEN_IDS[BLANK], zero_infinity=True,
        )

    def predict(self, head, features, lengths, batch) -> list[dict]:
        log_probs = head(features, lengths).cpu()
        return [
            {"ref": ref, "hyp": greedy_decode(row, length)}
            for ref, row, length in zip(batch["transcripts"], log_probs, lengths.tolist())
        ]

    def summarize(self, predictions: list[dict]) -> dict[str, float]:
        refs = [prediction["ref"] for prediction in predictions]
        hyps = [prediction["hyp"] for prediction in predictions]
        return {"wer": metrics.wer(refs, hyps), "cer": metrics.cer(refs, hyps)}

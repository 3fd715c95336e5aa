"""The demo config reduced to what a test of the whole DAG needs: ASR only, the two weight-free
models (`fbank`, `mfcc`) and a tiny demo corpus, so that demo corpus -> prepare -> subsample ->
subset checks and stats -> extract -> train -> collect -> report runs in a minute or two. Shared by the
SLURM tests and the fault-injection suite, which add their own extraction, protocol and report
settings."""

from __future__ import annotations


def reduced_demo(asr_utterances: tuple[int, int, int] = (16, 4, 4)) -> dict:
    """The shared part of the config; `asr_utterances`: the demo corpus's ASR train, dev, test
    sizes (half the train split is drawn). The other corpora are written too (the demo corpus
    always has all four layouts), large enough for a SID task to be added (k = 2)."""
    train, dev, test = asr_utterances
    return {
        "results": "results",
        "tasks": ["asr"],
        "demo": {
            "seed": 0, "min_words": 2, "max_words": 3,
            "asr": {"speakers": 4, "train": train, "dev": dev, "test": test},
            "sid": {"speakers": 3, "train": 3, "dev": 1, "test": 1},
            "se": {"train_speakers": 3, "test_speakers": 1, "utterances": 1},
            "ss": {"speakers": 2, "train": 1, "dev": 1, "test": 1},
        },
        "data": {"asr": {"root": "results/data/corpus/demo/LibriSpeech", "train": ["train-clean-100"]}},
        "sampling": {"seeds": [42], "paper": {"asr": {"fraction": 0.5}}},
        "models": {
            "fbank": {"loader": "s3prl", "name": "fbank", "reference": "FBANK"},
            "mfcc": {"loader": "s3prl", "name": "mfcc", "reference": None},
        },
        "runs": [{"protocol": "demo", "sampling": "paper"}],
    }

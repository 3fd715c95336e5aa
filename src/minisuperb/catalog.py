"""The one owner of the facts every stage shares: the tasks, their splits and what each one means.

Torch-free and import-free on purpose: the Snakefile, the config schema check, the CLI's argument
choices, the data readers, extraction, training and the report all read it, and a data job must
not pay for importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

# Every task has exactly these splits, in this order (test sets are never subsampled).
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Task:
    name: str
    corpus: str  # the corpus reader module under minisuperb.corpora
    reader: str  # its function that returns the manifest records per split
    head: str  # "module:Class" of the DownstreamTask under minisuperb.downstream.tasks
    leaderboard: str  # the SUPERB column prefix (ASR_wer, SID_acc, ...)
    metrics: tuple[str, ...]  # metric names in metrics.json; the first is the primary one
    pooled: bool  # stored as per-layer time averages (SID, as in the reference's extraction)
    demo_stream: int  # the demo corpus' random stream of this task's part, fixed forever


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("asr", "librispeech", "read_librispeech", "asr:AsrTask", "ASR", ("wer", "cer"), False, 1),
        Task("sid", "voxceleb1", "read_voxceleb1", "sid:SidTask", "SID", ("acc",), True, 2),
        Task("se", "voicebank", "read_voicebank", "se:SeTask", "SE", ("pesq", "stoi", "si_sdri"), False, 3),
        Task("ss", "librimix", "read_librimix", "ss:SsTask", "SS", ("si_sdri",), False, 4),
    )
}
TASK_NAMES = tuple(TASKS)
# A regular expression for Snakemake's wildcard constraints.
TASK_PATTERN = "|".join(TASK_NAMES)


def leaderboard_column(task: str, metric: str) -> str:
    """The SUPERB table column of one of a task's metrics: ("se", "si_sdri") -> "SE_sisdri"."""
    return f"{TASKS[task].leaderboard}_{metric.replace('_', '')}"

"""No utterance is extracted twice: a new feature view copies what other views already hold.

The features stage writes one store per view, a (model, task, sampling, seed): the utterances of
that subset's lists. A new view (a fraction, a seed, a run added to the config) is a new job,
and the finished views and their heads stay as they are. The job copies every utterance that
another published view of the same model and task holds for the same model hash, storage and
audio, and extracts only the others (often none: smaller samples of one seed lie inside larger
ones). Views of one (model, task) take turns (`extraction_turn`), so that two new views never
extract the same utterance at once. The price is disk: each view is a complete store, so shared
utterances (the test set, above all) are stored once per view.

The audio's identity (`source`) is its manifest path and sample count: a corpus rewritten with
other audio under the same ids is extracted again, and so is every utterance of a store written
before sources were recorded.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
from pathlib import Path

from minisuperb.store.errors import StoreError
from minisuperb.store.reader import FeatureStore

log = logging.getLogger(__name__)

TURN_LOCK = ".extraction.lock"


def audio_source(path: str, num_samples: int) -> str:
    return hashlib.sha256(f"{path}\0{num_samples}".encode()).hexdigest()[:16]


@contextlib.contextmanager
def extraction_turn(folder: Path):
    """Hold the (model, task) folder's extraction lock: one view job at a time extracts or
    copies, the next then sees its store. The lock dies with the process (`kill -9` included)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / TURN_LOCK, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another extraction of %s to finish (it holds %s)", folder, folder / TURN_LOCK)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def donor_stores(folder: Path, out: Path, model_hash: str, storage: str) -> list[FeatureStore]:
    """The published views under `folder` (`<sampling>/seed<seed>.zarr`) other than `out` that
    hold features of this model hash and storage, opened (each holds its version against
    deletion until closed). Damaged or other-model stores are skipped, not used."""
    donors = []
    for path in sorted(folder.glob("*/*.zarr")):
        if path == out or not path.is_symlink():
            continue
        try:
            store = FeatureStore.open(path, model_hash)
        except StoreError as error:
            log.info("not reusing %s: %s", path, str(error).split(". ")[0])
            continue
        if store.attrs.get("dtype") == storage:
            donors.append(store)
        else:
            store.close()
    return donors


def stored_utterances(donors: list[FeatureStore]) -> dict[tuple[str, str], tuple[FeatureStore, str]]:
    """{(split, id): (a donor holding it, its source)} over the donors' utterances of known source."""
    stored = {}
    for store in donors:
        for split in store.splits:
            for utt_id, source in store.sources(split).items():
                if source is not None:
                    stored.setdefault((split, utt_id), (store, source))
    return stored

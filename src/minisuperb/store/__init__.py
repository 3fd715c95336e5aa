"""The Zarr feature store: one store per (model, task) holding every split.

```python
from minisuperb.store import StoreWriter, FeatureStore
with StoreWriter(path, model, model_hash, num_layers, dim, frame_rate, pooled=False,
                 storage="float16") as writer:       # or "uint8": 8-bit codes, ~half the bytes
    writer.add("train", utt_id, features)       # [frames, layers, dim]; pooled: time-averaged
    attrs = writer.close({"wall_time_s": ...})  # publishes `path` with its completion marker
store = FeatureStore.open(path, model_hash)     # refuses missing, unfinished, other-model stores
store.get("train", utt_id, layers=None)         # float32 [frames, layers, dim], either storage
```
The on-disk layout is described in `minisuperb.store.layout`. A FeatureStore pickles to its path
and index, so DataLoader workers (spawned: zarr's event loop does not survive a fork) reopen it;
training's one loader is `minisuperb.downstream.data.make_loader`.
"""

from minisuperb.store.errors import StoreError
from minisuperb.store.reader import FeatureStore
from minisuperb.store.writer import StoreWriter

__all__ = ["FeatureStore", "StoreError", "StoreWriter"]

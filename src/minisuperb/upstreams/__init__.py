"""Upstream models: the registry (`load_upstream`, `model_hash`) and offline feature extraction.

See `registry` for the config entry, `base.Upstream` for the interface, `entry_point` for
plugging in your own model, and `extract` for the extraction job.
"""

from minisuperb.upstreams.registry import feature_settings, load_upstream, model_hash

__all__ = ["Upstream", "feature_settings", "load_upstream", "model_hash"]


def __getattr__(name: str):
    # The interface class needs torch, which the Snakefile (importing the registry) does not.
    if name == "Upstream":
        from minisuperb.upstreams.base import Upstream

        return Upstream
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Protocol presets: the training settings of each task under `minisuperb`, `superb`, `demo`...

Presets live in `config/protocols.yaml`. A protocol is a mapping task -> settings; it may say
`extends: <other protocol>` and then lists only what differs. The workflow config's
`protocols:` key has the same shape: it overrides settings of a preset per task, or defines a
new protocol (which must extend one). An override may only set keys the task already has, so a
misspelt setting fails before any job starts.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from minisuperb.errors import MinisuperbError

PRESETS_PATH = Path(__file__).resolve().parents[3] / "config" / "protocols.yaml"


def load_presets(path: str | Path = PRESETS_PATH) -> dict:
    path = Path(path)
    if not path.is_file():
        raise MinisuperbError(f"protocol presets {path} are missing; the checkout is incomplete.")
    return yaml.safe_load(path.read_text()) or {}


def resolve_settings(protocol: str, task: str, overrides: dict | None = None, presets: dict | None = None) -> dict:
    """The settings of `task` under `protocol`: the preset chain, then the config's overrides."""
    presets = load_presets() if presets is None else presets
    overrides = overrides or {}
    settings = _resolve(protocol, task, presets, overrides, chain=())
    if not settings:
        raise MinisuperbError(f"protocol {protocol!r} defines no settings for task {task!r}; add a '{task}:' block.")
    return settings


def _resolve(protocol: str, task: str, presets: dict, overrides: dict, chain: tuple[str, ...]) -> dict:
    if protocol in chain:
        raise MinisuperbError(f"protocols extend each other in a loop: {' -> '.join(chain + (protocol,))}.")
    preset = presets.get(protocol, {})
    override = overrides.get(protocol, {})
    if not preset and not override:
        known = sorted(set(presets) | set(overrides))
        raise MinisuperbError(
            f"unknown protocol {protocol!r} (in runs: or extends:); known: {', '.join(known)}. "
            "Define it under 'protocols:' in the config with 'extends: <preset>'."
        )
    parent = override.get("extends", preset.get("extends"))
    if not preset and parent is None:
        raise MinisuperbError(
            f"protocol {protocol!r} in the config's 'protocols:' is not a preset; add 'extends: <preset>' "
            f"(presets: {', '.join(sorted(presets))})."
        )
    settings = _resolve(parent, task, presets, overrides, chain + (protocol,)) if parent else {}
    settings = _merge(settings, preset.get(task, {}), f"{PRESETS_PATH.name}: {protocol}.{task}", strict=bool(parent))
    return _merge(settings, override.get(task, {}), f"config protocols.{protocol}.{task}", strict=True)


def _merge(base: dict, changes: dict, where: str, strict: bool) -> dict:
    """`base` with `changes` applied (nested dicts merged). With `strict`, a key `base` lacks is
    an error: overrides can change settings but not invent them."""
    merged = dict(base)
    for key, value in changes.items():
        if strict and key not in base:
            raise MinisuperbError(
                f"unknown setting {key!r} in {where}; known settings: {', '.join(sorted(base))}."
            )
        merged[key] = _merge(base[key], value, f"{where}.{key}", strict) if isinstance(value, dict) and key in base else value
    return merged

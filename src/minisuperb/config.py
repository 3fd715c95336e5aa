"""Workflow configuration: JSON-schema validation with defaults.

The schema is split by stage (`config/schema/<stage>.schema.yaml`); each file declares the
top-level keys its stage owns. They are merged into one object schema that forbids unknown
top-level keys, so a typo fails before any job starts, with the key named.
"""

from __future__ import annotations

import argparse
import difflib
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from minisuperb.catalog import TASK_NAMES
from minisuperb.errors import MinisuperbError

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "config" / "schema"


def load_schema(schema_dir: str | Path = SCHEMA_DIR) -> dict:
    schema_dir = Path(schema_dir)
    merged: dict[str, Any] = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {},
        "required": [],
        "additionalProperties": False,
        "definitions": {},
    }
    files = sorted(schema_dir.glob("*.schema.yaml"))
    if not files:
        raise MinisuperbError(f"no *.schema.yaml files in {schema_dir}; the checkout is incomplete.")
    for path in files:
        part = yaml.safe_load(path.read_text())
        for key in part.get("properties", {}):
            if key in merged["properties"]:
                raise MinisuperbError(f"config key '{key}' is declared twice (again in {path.name}).")
        merged["properties"].update(part.get("properties", {}))
        merged["required"].extend(part.get("required", []))
        merged["definitions"].update(part.get("definitions", {}))
    # The task names have one owner, the catalog; the schema file leaves the list open.
    merged["properties"]["tasks"]["items"]["enum"] = list(TASK_NAMES)
    return merged


def _with_defaults(validator_class):
    """A validator that also fills in `default` values, as snakemake's `validate` does."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, subschema in properties.items():
                if "default" in subschema and key not in instance:
                    instance[key] = _copy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft7Validator)


def _copy(value):
    return yaml.safe_load(yaml.safe_dump(value))


def _check(validator, instance, prefix: tuple[str, ...], source: str) -> None:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return
    lines = []
    for error in errors[:10]:
        message = error.message
        if error.validator == "additionalProperties":
            message += f" ({_close_keys(error)}check its spelling against config/schema/)"
        key = ".".join([*prefix, *map(str, error.absolute_path)]) or "(top level)"
        lines.append(f"  - key '{key}': {message}")
    raise MinisuperbError(f"invalid configuration in {source}:\n" + "\n".join(lines) + "\nFix these keys and rerun.")


def _close_keys(error) -> str:
    """'did you mean ...' for each unknown key of an additionalProperties error, if one is close."""
    known = list(error.schema.get("properties", {}))
    unknown = [key for key in error.instance if key not in known] if isinstance(error.instance, dict) else []
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(str(key), known, n=3, cutoff=0.6)
        if close:
            hints.append(f"{key!r}: did you mean {' or '.join(map(repr, close))}? ")
    return "".join(hints)


def validate_config(config: dict, schema_dir: str | Path = SCHEMA_DIR, source: str = "config") -> dict:
    """Validate `config` in place (filling defaults) and return it.

    Raises MinisuperbError naming the offending key and the file it came from.
    """
    schema = load_schema(schema_dir)
    _check(_Validator(schema), config, (), source)
    if "data" in schema["properties"]:  # not for a stage's own schema files (tests)
        _check_task_corpora(config, source)
    return config


def _check_task_corpora(config: dict, source: str) -> None:
    """Every task of `tasks` needs its corpus (`data.<task>`): checked here, before planning,
    rather than inside the first job that needs it."""
    data = config.get("data", {})
    if not isinstance(config.get("tasks"), list) or not isinstance(data, dict):
        return  # a partial schema (a stage's own)
    missing = [task for task in config["tasks"] if task not in data]
    if missing:
        raise MinisuperbError(
            f"invalid configuration in {source}:\n  - key 'data': `tasks` lists {', '.join(missing)} but "
            f"`data` has no section for {'it' if len(missing) == 1 else 'them'} (the corpus root). "
            f"Add `data: {missing[0]}: {{root: ...}}` (see config/minisuperb.yaml) or drop "
            f"{'it' if len(missing) == 1 else 'them'} from `tasks`.\nFix these keys and rerun."
        )


def validate_section(settings, key: tuple[str, ...], source: str = "--settings") -> dict:
    """A validated copy of one config section (e.g. key ("data", "asr")), defaults filled in.

    Sub-commands use it for the JSON slice a rule passes them, so that running a command by
    hand gets the same checks and defaults as the workflow.
    """
    schema = load_schema()
    subschema = schema
    for part in key:
        subschema = subschema["properties"][part]
    validator = _Validator({**subschema, "definitions": schema["definitions"]})
    settings = _copy(settings)
    _check(validator, settings, key, source)
    return settings


def validate_definition(settings: dict, name: str, required: tuple[str, ...], key: tuple[str, ...],
                        source: str = "--settings") -> None:
    """Check `settings` against the schema's definition `name`, with every key of `required` present.

    For settings assembled from several config sections (a task's resolved protocol settings),
    which no single config key holds.
    """
    schema = load_schema()
    subschema = {**schema["definitions"][name], "required": list(required), "definitions": schema["definitions"]}
    _check(_Validator(subschema), _copy(settings), key, source)


def seed(text: str) -> int:
    """argparse type of a seed option: an integer numpy and torch both accept (0 .. 2**32 - 1)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{text!r} is not a seed: use an integer from 0 to {2**32 - 1}")
    return value


def json_object(text: str, option: str) -> dict:
    """The JSON object a sub-command option carries (e.g. a config section on `--settings`)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise MinisuperbError(f"{option} is not valid JSON ({error}): {text[:200]}") from error
    if not isinstance(value, dict):
        raise MinisuperbError(f"{option} must be a JSON object, got: {text[:200]}")
    return value


def load_config(path: str | Path, schema_dir: str | Path = SCHEMA_DIR) -> dict:
    path = Path(path)
    if not path.is_file():
        raise MinisuperbError(f"config file {path} does not exist.")
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise MinisuperbError(f"config file {path} is not valid YAML: {error}") from error
    return validate_config(config, schema_dir, source=str(path))

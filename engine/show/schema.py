"""The JSON Schema of the show format, generated from the model specs (``beamsync schema``).

Editors use it for completion and inline errors: put
``# yaml-language-server: $schema=<path or URL of show.schema.json>`` on the first line of a
show file. The loader is stricter than the schema (names are linked, expressions compiled);
the schema never rejects a show the loader accepts.
"""

from __future__ import annotations

import json
from typing import Any

from engine.show.model import SECTION_ALIASES, SECTIONS

SCHEMA_ID = "https://beamsync.invalid/schema/show.schema.json"


def show_json_schema() -> dict[str, Any]:
    """The whole show file's schema (JSON Schema draft-07)."""
    props: dict[str, Any] = {}
    for key, spec in SECTIONS.items():
        props[key] = spec.json_schema()
    for alias, canon in SECTION_ALIASES.items():
        props[alias] = {**props[canon], "description": f"same as '{canon}'"}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "beamsync show",
        "description": "A beamsync show: outputs, fixtures and groups, palettes, signals, looks, layers, rules, cues. "
                       "Reference: docs/show-format.md",
        "type": "object",
        "properties": props,
        "additionalProperties": False,
    }


def show_json_schema_text() -> str:
    """The schema as the text ``beamsync schema`` prints (stable key order, trailing newline)."""
    return json.dumps(show_json_schema(), indent=2, sort_keys=False) + "\n"

"""The feature event: what every analyser publishes and the show graph consumes.

Times inside the engine are sample frame indices of the input stream (see
:mod:`engine.audio.clock`); seconds appear only at the edges (JSON output, logs, UI).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class FeatureEvent:
    """One timestamped analysis result.

    ``time`` is the frame at which the event happens in the audio (for a predicted beat it may
    lie in the future of ``detected_at``); ``detected_at`` is the frame at which the analyser
    emitted it. ``name`` is the feature's stable name as shows use it (``"beat"``, ``"onset"``,
    ``"tempo"``, ``"level.drums"`` ...); ``value`` its main number; ``data`` extra fields
    (``{"position": 1}`` for a beat, ``{"stem": "mix", "label": "kick"}`` for an onset).
    """

    name: str
    time: int
    detected_at: int
    value: float = 1.0
    data: dict[str, Any] = field(default_factory=dict)

"""The list of analysers for one input stream, shared by ``beamsync analyze`` and the live engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from engine.analysis.beats import BeatAnalyser
from engine.analysis.frontend import FrontEnd
from engine.analysis.onsets import LevelMeter, OnsetDetector
from engine.analysis.tracker import TrackerOptions
from engine.audio.block import AudioBlock
from engine.features import FeatureEvent


class Analyser(Protocol):
    """What every analyser is: causal, stateful, fed consecutive blocks of one stream."""

    def process(self, block: AudioBlock) -> list[FeatureEvent]:
        """Events decided by this block (times are input stream frames)."""
        ...

    def reset(self) -> None:
        """Forget the stream."""
        ...


@dataclass(slots=True)
class AnalysisOptions:
    """Which analysers run and how (the live engine and ``analyze`` build them from this)."""

    beats: bool = True
    onsets: bool = True
    levels: bool = True
    notes: bool = False
    predict: bool = True
    #: seconds before a predicted beat at which its event is emitted (None: 1.5 beat frames)
    fire_ahead: float | None = None
    beat_model: Path | None = None
    keep_activations: bool = False
    #: musical structure (energy, drops, breakdowns, phrases), fed by the beat analyser's events
    structure: bool = True
    #: stem separation and per-stem features (levels, onsets, kick/snare/hi-hat, vocal
    #: presence); its drum labels replace the onset detector's band proxies
    stems: bool = False
    separator: str = "auto"  # "auto" | "model" | "dsp"
    #: with ``notes``: transcribe the separated bass, vocals and "other" stems instead of the mix
    #: (runs its own separator with resynthesis)
    notes_per_stem: bool = False


def build_analysers(frontend: FrontEnd, options: AnalysisOptions | None = None) -> list[Analyser]:
    """The analysers for one stream, all sharing ``frontend``, in the order they should run."""
    o = options or AnalysisOptions()
    out: list[Analyser] = []
    if o.beats:
        fire = None if o.fire_ahead is None else o.fire_ahead * frontend.sample_rate
        beat_cls = BeatAnalyser
        if o.structure:
            from engine.analysis.structure import StructureBeatAnalyser as beat_cls
        out.append(beat_cls(frontend, TrackerOptions(predict=o.predict), model_path=o.beat_model,
                            fire_ahead=fire, keep_activations=o.keep_activations))
    elif o.structure:
        from engine.analysis.structure import StructureAnalyser

        out.append(StructureAnalyser(frontend))
    if o.onsets:
        out.append(OnsetDetector(frontend, band_proxies=not o.stems))
    if o.levels:
        out.append(LevelMeter(frontend))
    if o.stems:
        from engine.analysis.stems import StemAnalyser, StemOptions

        out.append(StemAnalyser(frontend.sample_rate, StemOptions(separator=o.separator)))
    if o.notes:
        from engine.analysis.harmony import HarmonyAnalyser, StemHarmonyAnalyser  # loads the Basic Pitch model

        # notes per separated stem only on request: measured on Slakh mixes, bass notes from the
        # separated stem (F 0.75) barely beat a bass-preset transcriber on the mix (0.73) at 3.4x
        # its CPU (22.6% vs 6.6% of a core): beamsync bench notes --per-stem
        out.append(StemHarmonyAnalyser(frontend.sample_rate, separator=o.separator) if o.notes_per_stem
                   else HarmonyAnalyser.create(frontend.sample_rate))
    return out


class AnalysisPipeline:
    """A front end and its analysers: ``process(block)`` returns every analyser's events."""

    def __init__(self, sample_rate: int, options: AnalysisOptions | None = None) -> None:
        self.options = options or AnalysisOptions()
        self.frontend = FrontEnd(sample_rate)
        self.analysers = build_analysers(self.frontend, self.options)

    def process(self, block: AudioBlock) -> list[FeatureEvent]:
        """Run every analyser on ``block`` (the front end computes its frames once)."""
        events: list[FeatureEvent] = []
        for analyser in self.analysers:
            events.extend(analyser.process(block))
        return events

    def reset(self) -> None:
        """Start a new stream."""
        self.frontend.reset()
        for analyser in self.analysers:
            analyser.reset()

    @property
    def beats(self) -> BeatAnalyser | None:
        """The beat analyser (for the beat clock and manual overrides), if running."""
        return next((a for a in self.analysers if isinstance(a, BeatAnalyser)), None)

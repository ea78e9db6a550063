"""Offline preview: run a show against an audio file and draw it (video, timeline picture).

:mod:`engine.preview.record` runs the real engine fixed-step over the audio and hands out
fixture snapshots on a video frame grid plus a compact recording for the timeline;
:mod:`engine.preview.frames` draws a video frame (the monitor UI's stage renderer plus a floor
glow and an information strip); :mod:`engine.preview.video` encodes frames and muxes the audio
with the ffmpeg binary shipped by ``imageio-ffmpeg``; :mod:`engine.preview.timeline` and
:mod:`engine.preview.plot` draw the one-picture views. Everything draws offscreen (Qt's
``offscreen`` platform); no display or system ffmpeg is needed.
"""

from __future__ import annotations

from engine.errors import BeamsyncError


class PreviewError(BeamsyncError):
    """A preview cannot be rendered: bad option, missing encoder, unwritable output."""

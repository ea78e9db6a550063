"""``beamsync devices``: list audio input devices."""

from __future__ import annotations

import argparse


def _devices(args: argparse.Namespace) -> int:
    from engine.audio.devices import device_table, list_input_devices

    print(device_table(list_input_devices()))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("devices", help="list audio input devices (index, name, host API, channels, rate)")
    p.set_defaults(func=_devices)

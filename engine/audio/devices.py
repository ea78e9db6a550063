"""Finding audio input devices by name or index, with errors that list what exists."""

from __future__ import annotations

from dataclasses import dataclass

from engine.audio.errors import AudioError


class AudioDeviceError(AudioError):
    """No such input device, or it cannot do what was asked; the hint lists the devices."""


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    hostapi: str
    max_input_channels: int
    default_samplerate: float
    is_default: bool = False

    def describe(self) -> str:
        mark = "*" if self.is_default else " "
        return (
            f"{mark}{self.index:3d}  {self.name}  [{self.hostapi}]  "
            f"{self.max_input_channels} ch, default {self.default_samplerate:g} Hz"
        )


def _sd():
    try:
        import sounddevice as sd
    except OSError as exc:  # libportaudio missing
        raise AudioError(f"PortAudio library not available ({exc}); install libportaudio2") from None
    return sd


def rescan() -> None:
    """Make PortAudio list devices again (after a JACK server or a USB interface came or went).

    PortAudio builds its device list once, at initialisation, and python-sounddevice offers no
    public way to redo that; its module-level ``_terminate``/``_initialize`` pair is the only
    way, so it is called from this one place. Call it only while no stream is open.
    """
    sd = _sd()
    sd._terminate()
    sd._initialize()


def list_input_devices() -> list[InputDevice]:
    """Every device with at least one input channel, in PortAudio's order."""
    sd = _sd()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
    except sd.PortAudioError as exc:
        raise AudioError(f"cannot list audio devices: {exc}") from None
    try:
        default_in = sd.default.device[0]
    except (TypeError, IndexError):
        default_in = -1
    out = []
    for d in devices:
        if d["max_input_channels"] > 0:
            out.append(
                InputDevice(
                    index=d["index"],
                    name=d["name"],
                    hostapi=hostapis[d["hostapi"]]["name"],
                    max_input_channels=d["max_input_channels"],
                    default_samplerate=d["default_samplerate"],
                    is_default=d["index"] == default_in,
                )
            )
    return out


def device_table(devices: list[InputDevice] | None = None) -> str:
    devices = list_input_devices() if devices is None else devices
    if not devices:
        return "no audio input devices found (use --audio FILE, or start JACK/PulseAudio)"
    return "input devices (* = default):\n" + "\n".join(d.describe() for d in devices)


def find_input_device(spec: str | int | None) -> InputDevice:
    """The input device named by ``spec``: an index, an exact name, or a unique part of a name.

    ``None`` means the system's default input. Raises :class:`AudioDeviceError` with the list of
    devices as hint when nothing (or more than one device) matches.
    """
    devices = list_input_devices()
    if spec is None or spec == "":
        for d in devices:
            if d.is_default:
                return d
        if devices:
            return devices[0]
        raise AudioDeviceError("no audio input device available", hint=device_table(devices))
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        idx = int(spec)
        for d in devices:
            if d.index == idx:
                return d
        raise AudioDeviceError(f"no input device with index {idx}", hint=device_table(devices))
    name = str(spec)
    exact = [d for d in devices if d.name == name]
    if len(exact) == 1:
        return exact[0]
    # "name [host API]" picks among same-named devices on several host APIs.
    partial = [d for d in devices if name.lower() in f"{d.name} [{d.hostapi}]".lower()]
    if len(partial) == 1:
        return partial[0]
    if not partial:
        raise AudioDeviceError(f"no input device matches '{name}'", hint=device_table(devices))
    names = ", ".join(f"{d.index}: {d.name} [{d.hostapi}]" for d in partial)
    raise AudioDeviceError(f"input device '{name}' is ambiguous: {names}", hint=device_table(devices))


def check_input_settings(device: InputDevice, sample_rate: int, channels: int) -> None:
    """Raise :class:`AudioDeviceError` if the device cannot open with these settings."""
    sd = _sd()
    if channels > device.max_input_channels:
        raise AudioDeviceError(
            f"input device '{device.name}' has {device.max_input_channels} input channel(s); "
            f"channel {channels} was asked for"
        )
    try:
        sd.check_input_settings(device=device.index, samplerate=sample_rate, channels=channels, dtype="float32")
    except (sd.PortAudioError, ValueError) as exc:
        raise AudioDeviceError(
            f"input device '{device.name}' cannot record {channels} channel(s) at {sample_rate} Hz ({exc}); "
            f"its default rate is {device.default_samplerate:g} Hz"
        ) from None

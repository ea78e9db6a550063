"""OSC out: presets, address maps, per-address rate limit, bundles; decoded by python-osc."""

from __future__ import annotations

from pythonosc.osc_packet import OscPacket

from engine.features import FeatureEvent
from engine.output.config import OscOutputConfig
from engine.output.osc import OscSender, preset_addresses


def messages(sock) -> list[tuple[str, list]]:
    out = []
    for data, _ in sock.sent:
        for m in OscPacket(data).messages:
            out.append((m.message.address, list(m.message.params)))
    return out


def sender(sock, **kw) -> OscSender:
    return OscSender(OscOutputConfig(name="o", rate=100.0, port=9000, **kw), sock=sock)


def test_generic_preset_sends_every_kind(fake_socket) -> None:
    s = sender(fake_socket)
    s.post(FeatureEvent("beat", 100, 90, 1.0, {"position": 1}))
    s.post(FeatureEvent("tempo", 100, 90, 128.0))
    s.post(FeatureEvent("level.drums", 100, 90, 0.25))
    s.post(FeatureEvent("onset", 100, 90, 0.8, {"stem": "bass"}))
    s.post(FeatureEvent("note", 100, 90, 60, {"pitch": 60, "velocity": 0.5}))
    s.set_value("bar_phase", 0.75)
    s.set_value("scene", 2, name="drop")
    assert not s.post(FeatureEvent("chroma", 1, 1, 0.1))  # no address: counted, not sent
    s.send(0.0)
    assert sorted(messages(fake_socket)) == sorted([
        ("/beamsync/beat", [1]), ("/beamsync/downbeat", [1]), ("/beamsync/tempo", [128.0]),
        ("/beamsync/level/drums", [0.25]), ("/beamsync/onset/bass", [0.800000011920929]),
        ("/beamsync/note", [60, 0.5]), ("/beamsync/bar_phase", [0.75]), ("/beamsync/scene", ["drop", 2]),
    ])  # fmt: skip
    assert s.unmapped == 1 and s.stats.packets == 8


def test_rate_limit_per_address_keeps_latest(fake_socket) -> None:
    s = sender(fake_socket, max_rate=10.0)
    for k in range(200):  # 1 s of a level at 200 Hz, beats at 2 Hz
        t = k * 0.005
        s.set_value("level.mix", k / 200)
        if k % 100 == 0:
            s.post(FeatureEvent("beat", k, k, 1.0, {"position": 2}))
        s.send(t)
    msgs = messages(fake_socket)
    levels = [v[0] for a, v in msgs if a == "/beamsync/level/mix"]
    assert len(levels) == 10  # 10 Hz over 1 s, never more
    assert levels[0] == 0.0 and all(b - a >= 0.1 - 1e-6 for a, b in zip(levels, levels[1:]))
    assert [v for a, v in msgs if a == "/beamsync/beat"] == [[2], [2]]
    assert s.coalesced == 189  # 200 values: 10 sent, 1 still waiting for its slot, the rest replaced


def test_qlcplus_pulses_and_scaling(fake_socket) -> None:
    s = sender(fake_socket, preset="qlcplus", prefix="/bs", max_rate=50.0)
    s.post(FeatureEvent("beat", 1, 1, 1.0, {"position": 3}))
    s.set_value("tempo", 150.0)
    s.send(0.0)
    s.send(0.01)  # rate limit still closed for /bs/beat
    s.send(0.02)
    assert messages(fake_socket) == [("/bs/beat", [1.0]), ("/bs/tempo", [0.5]), ("/bs/beat", [0.0])]


def test_resolume_and_touchdesigner_presets(fake_socket) -> None:
    s = sender(fake_socket, preset="resolume")
    s.post(FeatureEvent("beat", 1, 1, 1.0, {"position": 1}))
    s.set_value("tempo", 140.0)
    s.set_value("scene", 3)
    s.set_value("level.drums", 0.5)  # off in this preset
    s.send(0.0)
    assert sorted(messages(fake_socket)) == [
        ("/composition/columns/3/connect", [1]),
        ("/composition/tempocontroller/resync", [1]),
        ("/composition/tempocontroller/tempo", [0.25]),
    ]
    td = preset_addresses("touchdesigner", "/td")
    assert td["level"] == "/td/level/{stem}"


def test_user_map_overrides_preset(fake_socket) -> None:
    s = sender(fake_socket, addresses=(("beat", "/deck/{stem}/hit"), ("tempo", None)))
    s.post(FeatureEvent("beat", 1, 1, 1.0, {"position": 2, "stem": "drums"}))
    s.set_value("tempo", 120.0)
    s.send(0.0)
    assert messages(fake_socket) == [("/deck/drums/hit", [2])]


def test_bundle_with_timetag(fake_socket) -> None:
    s = sender(fake_socket, bundle=True)
    s.set_value("tempo", 120.0, at=1_700_000_000.5)
    s.set_value("bar_phase", 0.5, at=1_700_000_000.25)
    s.send(0.0)
    (data, dest), = fake_socket.sent
    packet = OscPacket(data)
    assert data.startswith(b"#bundle\x00") and dest == ("127.0.0.1", 9000)
    # NTP timetag: seconds since 1900 in 32.32 fixed point; the earliest 'at' of the bundle
    ntp = int.from_bytes(data[8:16], "big")
    assert abs(ntp / 2**32 - (1_700_000_000.25 + 2_208_988_800)) < 1e-6
    assert sorted(m.message.address for m in packet.messages) == ["/beamsync/bar_phase", "/beamsync/tempo"]


def test_real_udp_to_loopback(udp_collector) -> None:
    s = OscSender(OscOutputConfig(name="o", rate=100.0, port=udp_collector.port))
    s.set_value("tempo", 99.5)
    s.send(0.0)
    s.close()
    (data,) = udp_collector.collect(1)
    (m,) = OscPacket(data).messages
    assert m.message.address == "/beamsync/tempo" and list(m.message.params) == [99.5]


def test_unreachable_counted(make_fake_socket) -> None:
    s = sender(make_fake_socket(refuse={"127.0.0.1"}))
    s.set_value("tempo", 1.0)
    s.send(0.0)
    assert s.stats.errors == 1 and "ENETUNREACH" in (s.stats.last_error or "")

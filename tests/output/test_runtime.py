"""Outputs: a show's frame and events out through every configured output."""

from __future__ import annotations

from pythonosc.osc_packet import OscPacket
from sacn.messages.data_packet import DataPacket

from engine.config import load_yaml
from engine.features import FeatureEvent
from engine.output.config import parse_outputs
from engine.output.frame import DmxFrame
from engine.output.runtime import Outputs


def test_show_frame_and_events_reach_the_wire(make_fake_socket, free_port) -> None:
    from engine.output.osc import OscSender
    from engine.output.sacn import SacnSender

    configs = parse_outputs(load_yaml("s.yaml", text="""
outputs:
  - {type: sacn, name: dmx, universes: [2, 3], latency_ms: 20}
  - {type: osc, name: vj, port: 9000, preset: generic}
""")["outputs"], "s.yaml")  # fmt: skip
    dmx_sock, osc_sock = make_fake_socket(), make_fake_socket()

    def factory(config, buffer):
        if config.type == "sacn":
            return SacnSender(config, buffer, sock=dmx_sock, cid=bytes(16))
        return OscSender(config, sock=osc_sock)

    outputs = Outputs(configs, universes=[1, 2], sender_factory=factory)
    assert outputs.buffer.universes == (1, 2, 3)  # the patch's and the outputs' universes
    assert outputs.lead == 0.020 and [t.name for t in outputs.timing()] == ["dmx", "vj"]

    rendered = DmxFrame([1, 2])  # what the show renders: only the patch universes
    rendered.universe(1)[0] = 11
    rendered.universe(2)[:2] = [22, 23]
    outputs.publish(rendered)
    outputs.post(FeatureEvent("beat", 0, 0, 1.0, {"position": 3}))
    outputs.set_value("tempo", 124.0)
    outputs.tick(0.0)
    packets = {p.universe: p for p in (DataPacket.make_data_packet(d) for d, _ in dmx_sock.sent)}
    assert sorted(packets) == [2, 3]
    assert packets[2].dmxData[:2] == (22, 23) and packets[3].dmxData[:2] == (0, 0)
    osc = sorted((m.message.address, list(m.message.params)) for d, _ in osc_sock.sent for m in OscPacket(d).messages)
    assert osc == [("/beamsync/beat", [3]), ("/beamsync/tempo", [124.0])]
    snap = {s.name: s for s in outputs.snapshot()}
    assert snap["dmx"].packets == 2 and snap["vj"].packets == 2
    outputs.stop()
    assert sum(1 for d, _ in dmx_sock.sent if d[112] & 0x40) == 6  # 3 terminations x 2 universes


def test_outputs_build_their_own_senders(udp_collector) -> None:
    configs = parse_outputs(load_yaml("s.yaml", text=f"""
outputs:
  - {{type: sacn, universes: 1, destinations: ["127.0.0.1:{udp_collector.port}"]}}
""")["outputs"])  # fmt: skip
    with Outputs(configs, universes=[1]) as outputs:
        outputs.back.universe(1)[:3] = [1, 2, 3]
        outputs.publish()
        (data,) = udp_collector.collect(1)
    assert DataPacket.make_data_packet(data).dmxData[:3] == (1, 2, 3)

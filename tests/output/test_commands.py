"""``beamsync outputs``: list a show's outputs and send a test pattern through them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sacn.messages.data_packet import DataPacket

from engine.cli import main
from engine.output.commands import fill_pattern

STARTER = Path(__file__).resolve().parents[2] / "shows" / "starter.yaml"


def test_patterns() -> None:
    data = np.zeros((2, 512), dtype=np.uint8)
    fill_pattern(data, "chase", 513, 200)
    assert data[:, 1].tolist() == [200, 200] and int(data.sum()) == 400
    fill_pattern(data, "full", 0, 7)
    assert (data == 7).all()
    fill_pattern(data, "off", 0, 7)
    assert not data.any()


def test_lists_and_sends_a_test_pattern(tmp_path, udp_collector, capsys) -> None:
    if not STARTER.is_file():
        pytest.skip("shows/starter.yaml is not in this checkout")
    text = STARTER.read_text()
    assert "destinations: [127.0.0.1]" in text
    show = tmp_path / "show.yaml"
    show.write_text(text.replace("destinations: [127.0.0.1]", f'destinations: ["127.0.0.1:{udp_collector.port}"]'))
    assert main(["outputs", str(show)]) == 0
    listing = capsys.readouterr().out
    assert f"rig universe 1 -> sACN universe 1, priority 100 -> 127.0.0.1:{udp_collector.port}" in listing
    assert main(["outputs", str(show), "--test", "full", "--level", "200", "--seconds", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "0 errors" in out
    packets = [DataPacket.make_data_packet(d) for d in udp_collector.collect(4)]
    assert packets and set(packets[0].dmxData) == {200}

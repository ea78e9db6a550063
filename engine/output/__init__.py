"""Lighting outputs: DMX frames out as sACN (E1.31), Art-Net 4 and USB DMX, features out as OSC.

The pieces, from the show outwards:

* :mod:`engine.output.frame`: :class:`DmxFrame` (slots of the rig's universes) and
  :class:`FrameBuffer` (the show writes ``back`` and publishes; senders read complete frames).
* :mod:`engine.output.config`: the ``outputs:`` section of a show (:func:`parse_outputs`).
* :mod:`engine.output.registry`: output type name -> sender class (:func:`create_senders`).
* :mod:`engine.output.scheduler`: :class:`OutputScheduler`, every output on its own cadence.
* :mod:`engine.output.runtime`: :class:`Outputs`, all of the above for one show
  (``publish(frame)``, ``post(event)``, ``start()``/``stop()``, ``snapshot()``).
* :mod:`engine.output.shared`: :class:`SharedFrameBuffer`, the frame ring in shared memory.
* :mod:`engine.output.process`: :class:`OutputProcess`, ``Outputs`` with the DMX senders in a
  supervised child process (what the live engine runs).
* Encoders and senders: :mod:`~engine.output.sacn`, :mod:`~engine.output.artnet`,
  :mod:`~engine.output.osc`, :mod:`~engine.output.dmxusb`.

See ``docs/outputs.md``.
"""

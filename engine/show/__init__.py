"""The show: the file format, its validation, and the per-frame evaluation that drives the lights.

- :func:`engine.show.loader.load_show` / :func:`~engine.show.loader.check_show`: read a show
  file and its includes into a typed, linked :class:`~engine.show.loader.Show`.
- :class:`engine.show.runtime.ShowRuntime`: evaluate it once per show frame
  (``tick(inputs)`` -> attribute frame, ``render(inputs)`` -> DMX frame).
- :class:`engine.show.inputs.ShowInputs`: what a frame reads (features, events, beat clock).
- :class:`engine.show.reload.ShowWatcher`: hot reload.
- :func:`engine.show.schema.show_json_schema`: the JSON Schema (``beamsync schema``).

The format is documented in ``docs/show-format.md``.
"""

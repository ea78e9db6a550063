"""Auto mode: a musically sensible show generated from the rig alone (see docs/auto.md).

:mod:`engine.auto.roles` classifies fixtures into roles, :mod:`engine.auto.generate` writes the
show in the show language, :mod:`engine.auto.guard` limits full-field flashes per second.
"""

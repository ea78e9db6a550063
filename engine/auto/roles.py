"""Roles of a rig's fixtures: what each one is for in a show, read from the patch alone.

A lighting designer thinks in roles ("front wash", "the movers", "pixel bars", "strobes"),
not in profiles. :func:`classify` gives every fixture one role from its profile (categories
and the attributes its mode's channels control), its cells and its position on the virtual
stage, and names a role for each of the rig's groups (or says it is mixed).

Overrides, in order of precedence:

* ``overrides`` (``beamsync auto --roles washes=back_wash``): every fixture of that group;
* a fixture tag ``role.NAME`` in the rig file (``tags: [role.back_wash]``);
* the fixture tags ``front`` / ``back`` choose between the two wash roles; without them a wash
  in a group named like a backlight (``backs``, ``rear``) or upstage of the others is a back wash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from engine.errors import BeamsyncError

#: Every role, in the order the generated show uses them (the meaning is in docs/auto.md).
ROLES: dict[str, str] = {
    "front_wash": "static colour or dimmer fixtures downstage: the base of the picture, pumped by the kick",
    "back_wash": "static colour fixtures upstage: backlight, accented by the snare",
    "mover": "moving wash lights: figures scaled by excitement, limited by the mover range",
    "spot": "moving spots (gobo): figures, and on the singer while vocals are present",
    "pixel": "multi-cell fixtures (pixel bars): waves and chases locked to the beat, hi-hat sparkle",
    "strobe": "strobes and blinders: saved for build-ups and drops",
    "fx": "fog and haze machines: haze in breakdowns",
    "other": "fixtures the auto show leaves alone (lasers, relays, unknown kinds)",
}
#: Tag prefix that sets a fixture's role in the rig file.
ROLE_TAG = "role."

_EMITTERS = {"red", "green", "blue", "white", "amber", "uv", "cyan", "magenta", "yellow", "lime", "color_wheel"}


class RoleError(BeamsyncError):
    """A role override that names an unknown group or role."""


@dataclass
class RigRoles:
    """The roles of one rig.

    ``fixture_roles[i]`` is the role of patch fixture ``i``; ``members[role]`` the fixture
    indices with that role, ordered left to right on stage (so chases travel across the
    stage); ``group_roles`` the role of each rig group (``"mixed"`` when its fixtures differ).
    """

    fixture_roles: list[str]
    members: dict[str, list[int]]
    group_roles: dict[str, str]
    why: list[str] = field(default_factory=list)

    def present(self, role: str) -> bool:
        return bool(self.members.get(role))


def _attributes(fixture: Any) -> set[str]:
    return {mc.channel.attribute for mc in fixture.mode.channels}


def fixture_role(fixture: Any) -> str:
    """The role of one patched fixture from its profile alone (tags and overrides aside)."""
    cats = {c.lower() for c in fixture.profile.categories}
    attrs = _attributes(fixture)
    if "fog" in attrs or cats & {"fog", "hazer", "smoke"}:
        return "fx"
    if "laser" in cats or "laser" in attrs:
        return "other"  # lasers need their own safety setup; the auto show never drives them
    if cats & {"strobe", "blinder"}:
        return "strobe"  # before cells: a two-lamp blinder is not a pixel bar
    if fixture.cells > 1 or "pixel-bar" in cats or "matrix" in cats:
        return "pixel"
    if "pan" in attrs or "tilt" in attrs or cats & {"moving-head", "scanner"}:
        return "spot" if "gobo" in attrs else "mover"
    if attrs & _EMITTERS or "intensity" in attrs or cats & {"dimmer", "color-changer"}:
        return "front_wash"
    return "other"


def classify(patch: Any, overrides: Mapping[str, str] | None = None) -> RigRoles:
    """Give every fixture of ``patch`` a role and every group a role name.

    ``overrides`` maps a group (or fixture) name to a role; an unknown group or role raises
    :class:`RoleError` with a suggestion.
    """
    from engine.config import suggest

    n = patch.n_fixtures
    roles = [fixture_role(f) for f in patch.fixtures]
    why = [f"{f.name}: {r} (profile {f.profile.key})" for f, r in zip(patch.fixtures, roles)]
    # Wash fixtures: front or back from tags, else from their depth on the stage.
    washes = [i for i, r in enumerate(roles) if r == "front_wash"]
    if washes:
        ys = [float(patch.fixtures[i].position[1]) for i in washes]
        lo, hi = min(ys), max(ys)
        # a group named like a backlight ("backs", "back_wash", "rear") marks its washes as back
        named_back = {int(i) for g, idx in patch.groups.items()
                      if any(w in g.lower() for w in ("back", "rear", "upstage")) for i in idx}
        for i in washes:
            tags = set(patch.fixtures[i].tags)
            if tags & {"back", "backlight", "rear", "upstage"}:
                roles[i] = "back_wash"
                why[i] = f"{patch.fixtures[i].name}: back_wash (tag)"
            elif i in named_back and not tags & {"front", "downstage"}:
                roles[i] = "back_wash"
                why[i] = f"{patch.fixtures[i].name}: back_wash (group name)"
            elif not tags & {"front", "downstage"} and hi - lo >= 1.0 and patch.fixtures[i].position[1] > (lo + hi) / 2:
                roles[i] = "back_wash"
                why[i] = f"{patch.fixtures[i].name}: back_wash (upstage, y = {patch.fixtures[i].position[1]:g} m)"
    for f in patch.fixtures:
        for tag in f.tags:
            if tag.startswith(ROLE_TAG):
                role = tag[len(ROLE_TAG):]
                if role not in ROLES:
                    raise RoleError(f"fixture '{f.name}': unknown role '{role}' in tag '{tag}'{suggest(role, ROLES)}"
                                    f" (roles: {', '.join(ROLES)})")
                roles[f.index] = role
                why[f.index] = f"{f.name}: {role} (tag {tag})"
    for group, role in (overrides or {}).items():
        if role not in ROLES:
            raise RoleError(f"--roles {group}={role}: unknown role '{role}'{suggest(role, ROLES)} (roles: {', '.join(ROLES)})")
        try:
            idx = patch.group(group)
        except KeyError as exc:
            raise RoleError(f"--roles {group}={role}: {exc.args[0]}") from None
        for i in idx:
            roles[int(i)] = role
            why[int(i)] = f"{patch.fixtures[int(i)].name}: {role} (override of group '{group}')"
    members: dict[str, list[int]] = {r: [] for r in ROLES}
    order = sorted(range(n), key=lambda i: (float(patch.fixtures[i].position[0]), i))
    for i in order:
        members[roles[i]].append(i)
    group_roles: dict[str, str] = {}
    for g, idx in patch.groups.items():
        kinds = sorted({roles[int(i)] for i in idx})
        group_roles[g] = kinds[0] if len(kinds) == 1 else ("mixed: " + ", ".join(kinds) if kinds else "empty")
    return RigRoles(roles, members, group_roles, why)

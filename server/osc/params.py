"""``/jbdiff/param/*``, ``/jbdiff/params`` and ``/jbdiff/preset/*``: live defaults for the next jobs."""

from __future__ import annotations

from typing import Any

from server.osc.routes import Arg, Call, Reply, Route
from server.params import PARAMS, PARAMS_BY_NAME, spec_for, to_osc


def param_set(call: Call, name: str, value: Any) -> list[Reply]:
    stored = call.server.set_param(name, value)
    return [Reply("/jbdiff/param/set", [name, to_osc(stored, spec_for(name))])]


def param_get(call: Call, name: str) -> list[Reply]:
    spec = spec_for(name)
    return [Reply("/jbdiff/param/get", [name, to_osc(call.server.params.get(name), spec)])]


def params(call: Call) -> list[Reply]:
    flat: list[Any] = []
    for name, value in call.server.params.snapshot().items():
        flat += [name, to_osc(value, PARAMS_BY_NAME[name]), call.server.param_scope(name)]
    return [Reply("/jbdiff/params", flat)]


def param_list(call: Call) -> list[Reply]:
    return [Reply("/jbdiff/param/list", [p.name for p in PARAMS])]


def preset_save(call: Call, name: str) -> list[Reply]:
    path = call.server.presets.save(name, call.server.params.export())
    return [Reply("/jbdiff/preset/save", [name, str(path)])]


def preset_load(call: Call, name: str) -> list[Reply]:
    call.server.params.replace_all(call.server.presets.load(name))
    return [Reply("/jbdiff/preset/load", [name])]


def preset_list(call: Call) -> list[Reply]:
    return [Reply("/jbdiff/preset/list", call.server.presets.names())]


_NAME = Arg("name", "string", "a parameter name (see Parameters)")
_PRESET = Arg("name", "string", "preset name: letters, digits, space, - _ . (1 .. 64 characters)")

ROUTES: tuple[Route, ...] = (
    Route("/jbdiff/param/set", param_set,
          "Set a live parameter for the next jobs (`default` resets it). Parameters whose scope is `running` "
          "also reach the job that is rendering.",
          args=(_NAME, Arg("value", "any", "the new value, or `default`")),
          replies=("/jbdiff/param/set <name> <value as stored>",)),
    Route("/jbdiff/param/get", param_get, "Read one live parameter.", args=(_NAME,),
          replies=("/jbdiff/param/get <name> <value>",)),
    Route("/jbdiff/params", params, "Every parameter with its value and scope (`next`: next jobs only; "
          "`running`: also the rendering job).",
          replies=("/jbdiff/params <name> <value> <scope> ...",)),
    Route("/jbdiff/param/list", param_list, "The parameter names, in table order.",
          replies=("/jbdiff/param/list <name> ...",)),
    Route("/jbdiff/preset/save", preset_save,
          "Save the changed parameters as a named preset (a JSON file in <data-dir>/presets/).",
          args=(_PRESET,), replies=("/jbdiff/preset/save <name> <path>",)),
    Route("/jbdiff/preset/load", preset_load,
          "Reset every parameter, then apply the preset (all values checked before any is applied).",
          args=(_PRESET,), replies=("/jbdiff/preset/load <name>",)),
    Route("/jbdiff/preset/list", preset_list, "Saved preset names.", replies=("/jbdiff/preset/list <name> ...",)),
)

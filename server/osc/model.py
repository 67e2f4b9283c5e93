"""``/jbdiff/model/*``: which model the next jobs render with."""

from __future__ import annotations

from server.osc.routes import Arg, Call, Reply, Route


def model_set(call: Call, name: str) -> list[Reply]:
    return [Reply("/jbdiff/model/set", [call.server.selection.set(name)])]


def model_get(call: Call) -> list[Reply]:
    selection = call.server.selection
    return [Reply("/jbdiff/model/get", [selection.get(), selection.configured])]


def model_list(call: Call) -> list[Reply]:
    return [Reply("/jbdiff/model/list", call.server.selection.choices())]


ROUTES: tuple[Route, ...] = (
    Route("/jbdiff/model/set", model_set,
          "Select the model for jobs submitted from now on (by OSC, MIDI or the drop folder); queued and running "
          "jobs keep the model they were submitted under. Checked at once: an unknown name or a missing file is "
          "an error and changes nothing. Whether a named model's weights are present is known only when a worker "
          "loads it for a job: if it cannot, that job fails with the reason, and the next /jbdiff/generate is "
          "refused (ModelNotLoaded) until a model is selected again. Workers swap models lazily, one loaded at "
          "a time. The selection is kept in <data-dir>/model.json across restarts, until the configured `model` "
          "changes.",
          args=(Arg("name", "string", "demo, tiny, jbdiff-v1, random-v1, `default` (the configured model), or a "
                                      ".safetensors bundle or .yaml config: a file name in <data-dir>/models/, or "
                                      "a path inside the drop or library folders"),),
          replies=("/jbdiff/model/set <model as stored (files: absolute path)>",)),
    Route("/jbdiff/model/get", model_get, "The model the next jobs render with, and the configured one.",
          replies=("/jbdiff/model/get <model> <configured model>",)),
    Route("/jbdiff/model/list", model_list,
          "What /jbdiff/model/set takes by name, for a menu: the known models, then the .safetensors and .yaml "
          "files in <data-dir>/models/.",
          replies=("/jbdiff/model/list <name> ...",)),
)

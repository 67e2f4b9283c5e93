"""Route tables: what each address takes and answers, used by the dispatcher and the docs alike."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from server.errors import BadRequest

if TYPE_CHECKING:
    from server.app import Server

NAMESPACE = "/jbdiff"
ERROR_ADDRESS = f"{NAMESPACE}/error"


@dataclass(frozen=True)
class Arg:
    """One argument: name, OSC type (int, float, string, any) and meaning."""

    name: str
    type: str
    doc: str
    optional: bool = False


@dataclass(frozen=True)
class Reply:
    """A message to send back; ``to`` overrides the sender's reply address (e.g. /jbdiff/hello)."""

    address: str
    args: Sequence[Any] = ()
    to: tuple[str, int] | None = None


@dataclass(frozen=True)
class Call:
    """Who called which address; handlers reach the server through it."""

    server: Server
    sender: tuple[str, int]
    address: str


Handler = Callable[..., "list[Reply] | None"]


@dataclass(frozen=True)
class Route:
    """An address, its arguments (``rest``: a variadic tail), what it answers and its handler."""

    address: str
    handler: Handler
    doc: str
    args: tuple[Arg, ...] = ()
    rest: Arg | None = None
    replies: tuple[str, ...] = ()

    def signature(self) -> str:
        parts = [f"[{a.name}]" if a.optional else f"<{a.name}>" for a in self.args]
        if self.rest is not None:
            parts.append(f"[{self.rest.name} ...]")
        return " ".join([self.address, *parts])


@dataclass(frozen=True)
class Message:
    """A message the server sends on its own (job events), documented with the routes."""

    address: str
    args: tuple[Arg, ...]
    doc: str
    extra: dict[str, Any] = field(default_factory=dict)

    def signature(self) -> str:
        return " ".join([self.address, *(f"<{a.name}>" for a in self.args)])


def check_args(route: Route, params: Sequence[Any]) -> list[Any]:
    """Arity and types against the route's table entry; the error names the expected signature."""
    required = [a for a in route.args if not a.optional]
    if len(params) < len(required) or (route.rest is None and len(params) > len(route.args)):
        raise BadRequest(f"expected {route.signature()}, got {len(params)} argument(s)")
    out = [convert(arg, value) for arg, value in zip(route.args, params, strict=False)]
    out.extend(params[len(route.args):])
    return out


def convert(arg: Arg, value: Any) -> Any:
    """One argument to its documented type (ints pass as floats; integral floats as ints)."""
    kind = arg.type
    if kind == "any":
        return value
    if kind == "string":
        if isinstance(value, str):
            return value
    elif kind == "int":
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind == "float":
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    raise BadRequest(f"{arg.name}: expected {kind}, got {type(value).__name__} {value!r}")

# expect: contained
# attack: typing placeholders: typing.Any._inert_name, typing.cast internals, TypeVar objects
# outcome: rejected
# error: SandboxAccessError
import typing


def on_track(event, settings):
    t = typing.TypeVar("T")
    return {"escaped": True, "n": t._inert_name, "c": repr(getattr(typing.cast, "__globals__"))}

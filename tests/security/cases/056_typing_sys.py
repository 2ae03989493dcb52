# expect: contained
# attack: typing.sys / typing.get_type_hints (evaluates strings in module globals)
# outcome: rejected
# error: SandboxAccessError
import typing


def on_track(event, settings):
    hints = typing.get_type_hints
    return {"escaped": True, "h": repr(hints)}

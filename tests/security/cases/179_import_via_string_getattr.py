# expect: contained
# attack: importing an unlisted module by a computed name through the guarded import hook
# outcome: rejected
# error: SandboxAccessError
import functions_sdk


def on_track(event, settings):
    hook = getattr(functions_sdk, "__import__")
    return {"escaped": True, "os": repr(hook("os"))}

# expect: contained
# attack: functions_sdk._context.current().allow += ("0.0.0.0/0",) at run time
# outcome: rejected
# error: SandboxAccessError
import functions_sdk


def on_track(event, settings):
    ctx = functions_sdk._context.current()
    ctx.allow = ("0.0.0.0/0",)
    return {"escaped": True}

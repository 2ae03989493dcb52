# expect: contained
# attack: decimal.getcontext() / setcontext: process-global arithmetic context poisoning
# outcome: rejected
# error: SandboxAccessError
import decimal


def on_track(event, settings):
    ctx = decimal.getcontext()
    ctx.prec = 1
    return {"escaped": True}

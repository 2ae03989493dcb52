# expect: contained
# attack: re.enum -> enum module -> sys (re imports enum at module level)
# outcome: rejected
# error: SandboxAccessError
import re


def on_track(event, settings):
    enum = re.enum
    return {"escaped": True, "sys": repr(enum.sys)}

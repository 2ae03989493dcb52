# expect: invalid
# attack: from functions_sdk import _context (the invocation context: secrets, mocks, allow list)
# line: 4
from functions_sdk import _context


def on_track(event, settings):
    ctx = _context.current()
    return {"secrets": list(ctx.secrets), "allow": list(ctx.allow)}

# expect: contained
# attack: exception messages of 50 MB (error record bomb) via str() and FunctionError.message
# outcome: rejected
# error: ValidationError
from functions_sdk import ValidationError


def on_track(event, settings):
    raise ValidationError("x" * (50 * 1024 * 1024))

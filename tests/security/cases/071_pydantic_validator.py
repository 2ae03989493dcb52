# expect: invalid
# attack: event.__pydantic_validator__ / __pydantic_core_schema__ (validator functions, cls)
# line: 7


def on_track(event, settings):
    schema = event.__pydantic_core_schema__
    return {"escaped": True, "s": repr(schema)[:200], "v": repr(event.__pydantic_validator__)}

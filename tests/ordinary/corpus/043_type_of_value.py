def on_track(event, settings):
    values = [1, "a", 2.5, None, [1], {"a": 1}, (1,), True]
    return {"names": [type(v).__name__ for v in values],
            "is_int": type(values[0]) is int, "same": type(values[1]) == str,
            "bool_not_int": type(True) is not int}

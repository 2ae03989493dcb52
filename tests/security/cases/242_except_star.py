# expect: invalid
# attack: try/except* type confusion (CVE-2025-22153)
# line: 7


def on_track(event, settings):
    try:
        raise ValueError("x")
    except* ValueError as group:
        return {"escaped": True, "g": repr(group)}

def on_track(event, settings):
    trail = []
    for value in ["1", "x", "3"]:
        try:
            n = int(value)
        except ValueError as exc:
            trail.append(f"bad:{value}")
        else:
            trail.append(n * 2)
        finally:
            trail.append("|")
    return trail

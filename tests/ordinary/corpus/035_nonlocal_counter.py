def make_counter():
    count = 0

    def bump(step=1):
        nonlocal count
        count += step
        return count

    return bump


def on_track(event, settings):
    bump = make_counter()
    for item in event.properties["items"]:
        bump(item["qty"])
    return {"count": bump(0)}

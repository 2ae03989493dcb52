# expect: invalid
# attack: nonlocal rebinding of an enclosing variable the guards closed over
# line: 10


def on_track(event, settings):
    count = 0

    def bump():
        nonlocal count
        count += 1

    bump()
    return {"count": count}

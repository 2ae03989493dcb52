# expect: contained
# attack: print 100 MB into the delivery log (one huge line, then many lines)
# outcome: delivered
# error: none


def on_track(event, settings):
    print("x" * (100 * 1024 * 1024))
    for _ in range(20000):
        print("y" * 5000)
    return {"escaped": False}

# expect: contained
# attack: module-level state that would carry one invocation's data into the next
# outcome: delivered
# error: none
# runs: 3
SEEN = []


def on_track(event, settings):
    SEEN.append(event.userId)
    return {"escaped": len(SEEN) > 1, "seen": len(SEEN)}

# expect: contained
# attack: open("/proc/self/environ") and open("/proc/<ppid>/environ") (the host's initial env)
# outcome: rejected
# error: NameError


def on_track(event, settings):
    with open("/proc/self/environ") as fh:
        return {"escaped": True, "env": fh.read()}

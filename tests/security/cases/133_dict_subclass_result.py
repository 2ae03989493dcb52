# expect: contained
# attack: class Evil(dict) with an items() override returned as the result
# outcome: rejected
# error: TypeError


class Evil(dict):
    def items(self):
        return [("x", 1)]


def on_track(event, settings):
    return Evil(a=1)

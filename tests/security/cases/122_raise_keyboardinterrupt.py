# expect: contained
# attack: raise KeyboardInterrupt / GeneratorExit from the handler
# outcome: rejected
# error: NameError


def on_track(event, settings):
    raise KeyboardInterrupt()

# expect: contained
# attack: raise KeyboardInterrupt / GeneratorExit from the handler
# error: NameError


def on_track(event, settings):
    raise KeyboardInterrupt()

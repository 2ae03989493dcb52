def on_track(event, settings):
    return {"module": __name__, "handler": on_track.__name__}


if __name__ == "__main__":
    print(on_track(None, None))

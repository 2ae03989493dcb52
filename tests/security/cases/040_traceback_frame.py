# expect: invalid
# attack: e.__traceback__.tb_frame.f_back.f_globals (frame walk out of the handler)
# line: 10


def on_track(event, settings):
    try:
        1 / 0
    except ZeroDivisionError as e:
        frame = e.__traceback__.tb_frame.f_back
        return sorted(frame.f_globals)

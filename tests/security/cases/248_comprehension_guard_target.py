# expect: invalid
# attack: comprehension / for-loop target named like a guard ([... for _getitem_ in ...])
# line: 7


def on_track(event, settings):
    return [1 for _getitem_ in [dict.get]]

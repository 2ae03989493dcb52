# expect: invalid
# attack: payload at import time with no handler (runs on upload if the runtime executes modules)
VALUE = [1, 2, 3]


def on_identify_typo(event, settings):
    return VALUE

# expect: invalid
# attack: import functions_sdk.testing / functions_sdk._network as submodules
# line: 4
import functions_sdk._network
import functions_sdk.testing


def on_track(event, settings):
    return repr(functions_sdk)

# expect: contained
# attack: functions_sdk.http.socket / functions_sdk.http._send through the package facade
# outcome: rejected
# error: SandboxAccessError
import functions_sdk


def on_track(event, settings):
    http = functions_sdk.http
    return {"escaped": True, "s": repr(http.socket)}

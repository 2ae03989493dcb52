from enum import Enum


class Kind(Enum):
    ORDER = "Order Completed"
    SIGNUP = "Signed Up"


def on_track(event, settings):
    match Kind(event.event):
        case Kind.ORDER:
            return "order"
        case Kind.SIGNUP:
            return "signup"

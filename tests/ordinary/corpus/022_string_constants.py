import string


def on_track(event, settings):
    code = "".join(ch for ch in "AB-12 x!" if ch in string.ascii_uppercase + string.digits)
    return {"code": code, "title": string.capwords("hello big world"),
            "punct": sum(1 for ch in "a,b.c!" if ch in string.punctuation)}

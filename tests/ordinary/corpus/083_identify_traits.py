# event: {"type": "identify", "userId": "u-7", "traits": {"email": "A@B.com", "name": "Ada Lovelace", "plan": "pro"}}
from dataclasses import dataclass


@dataclass
class Person:
    first: str
    last: str
    email: str


def on_identify(event, settings):
    traits = event.traits
    first, _, last = traits["name"].partition(" ")
    p = Person(first, last, traits["email"].lower())
    return {"person": vars_like(p), "plan": traits.get("plan")}


def vars_like(p):
    return {"first": p.first, "last": p.last, "email": p.email}

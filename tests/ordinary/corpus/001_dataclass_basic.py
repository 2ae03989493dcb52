from dataclasses import dataclass


@dataclass
class Contact:
    email: str
    plan: str = "free"


def on_track(event, settings):
    contact = Contact(email=f"{event.userId}@example.com", plan=event.properties["plan"])
    return {"contact": repr(contact), "eq": contact == Contact(contact.email, "pro")}

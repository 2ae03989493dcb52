class Account:
    def __init__(self, email):
        self._email = None
        self.email = email

    @property
    def email(self):
        return self._email

    @email.setter
    def email(self, value):
        self._email = value.strip().lower()

    @staticmethod
    def domain_of(email):
        return email.split("@")[1]

    @classmethod
    def from_event(cls, event):
        return cls(f" {event.userId}@Example.COM ")


def on_track(event, settings):
    a = Account.from_event(event)
    return {"email": a.email, "domain": Account.domain_of(a.email)}

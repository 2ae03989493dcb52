import json
from dataclasses import asdict, dataclass
from enum import Enum


class Status(Enum):
    ACTIVE = "active"
    CHURNED = "churned"


@dataclass
class Member:
    id: str
    status: Status


def on_track(event, settings):
    m = Member(event.userId, Status.ACTIVE)
    body = {k: (v.value if isinstance(v, Enum) else v) for k, v in asdict(m).items()}
    return {"json": json.dumps(body, sort_keys=True), "lookup": Status("churned").name}

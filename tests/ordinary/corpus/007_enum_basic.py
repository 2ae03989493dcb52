from enum import Enum


class Plan(Enum):
    FREE = "free"
    PRO = "pro"
    ENTERPRISE = "enterprise"


def on_track(event, settings):
    plan = Plan(event.properties["plan"])
    return {"name": plan.name, "value": plan.value, "all": [p.value for p in Plan],
            "is_pro": plan is Plan.PRO, "by_name": Plan["FREE"].value}

import math
import random


def on_track(event, settings):
    rng = random.Random(42) if hasattr(random, "Random") else None
    return {"sqrt": math.sqrt(16), "ceil": math.ceil(2.1), "isclose": math.isclose(0.1 + 0.2, 0.3),
            "pi": round(math.pi, 4), "has_rng": rng is not None or True}

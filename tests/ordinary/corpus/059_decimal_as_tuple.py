from decimal import Decimal, ROUND_HALF_UP


def on_track(event, settings):
    d = Decimal(str(event.properties["total"])).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    t = d.as_tuple()
    return {"sign": t.sign, "digits": list(t.digits), "exponent": t.exponent, "places": -t.exponent}

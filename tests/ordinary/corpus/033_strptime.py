from datetime import datetime, timezone


def on_track(event, settings):
    parsed = datetime.strptime("2026-11-30 12:34:56", "%Y-%m-%d %H:%M:%S")
    aware = datetime.strptime("2026-11-30T12:34:56+0000", "%Y-%m-%dT%H:%M:%S%z")
    return {"iso": parsed.isoformat(), "tz": aware.astimezone(timezone.utc).isoformat(),
            "day": parsed.strftime("%A")}

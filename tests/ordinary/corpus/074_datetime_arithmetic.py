from datetime import datetime, timedelta, timezone


def on_track(event, settings):
    ts = event.timestamp
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    start = ts.replace(hour=0, minute=0, second=0, microsecond=0)
    return {"day": start.isoformat(), "next": (start + timedelta(days=1)).date().isoformat(),
            "week": ts.isocalendar()[1], "utc": ts.astimezone(timezone.utc).tzinfo is not None}

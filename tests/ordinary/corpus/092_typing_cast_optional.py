from typing import Any, Optional, Union, cast


def parse_amount(value: Union[str, float, None]) -> Optional[float]:
    if value is None:
        return None
    return float(cast(Any, value))


def on_track(event, settings):
    return [parse_amount("1.5"), parse_amount(None), parse_amount(event.properties["total"])]

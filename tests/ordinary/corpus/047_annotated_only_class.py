class Config:
    url: str
    retries: int
    timeout: float


class Defaults:
    retries: int = 3


def on_track(event, settings):
    cfg = Config()
    cfg.url = settings["endpoint"]
    cfg.retries = Defaults.retries
    return {"url": cfg.url, "retries": cfg.retries}

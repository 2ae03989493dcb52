class Exporter:
    name = "base"

    def __init__(self, settings):
        self.endpoint = settings["endpoint"]

    def headers(self):
        return {"User-Agent": f"functions/{self.name}"}


class CrmExporter(Exporter):
    name = "crm"

    def __init__(self, settings):
        super().__init__(settings)
        self.key = settings["api_key"]

    def headers(self):
        h = super().headers()
        h["Authorization"] = f"Bearer {self.key[:3]}..."
        return h


def on_track(event, settings):
    e = CrmExporter(settings)
    return {"h": e.headers(), "endpoint": e.endpoint, "isinst": isinstance(e, Exporter)}

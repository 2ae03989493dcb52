# expect: contained
# attack: unbound hmac.HMAC.copy/update on host objects (self.__class__.__new__, self._inner ...)
# outcome: rejected
# error: SandboxAccessError
import hmac


def on_track(event, settings):
    hits = []
    for method in [hmac.HMAC.copy, hmac.HMAC.hexdigest, hmac.HMAC.update]:
        for target in [settings, event]:
            try:
                hits.append(repr(method(target))[:60])
            except Exception:
                pass
    return {"escaped": len(hits) > 0, "hits": hits}

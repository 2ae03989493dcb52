"""The HTTP API Lambda (control plane, ingest, deliveries): ``handler``.

Init starts the sandbox pool and Powertools' logger and metrics; the resolver (the
event handler, the control plane's modules, the AWS clients) is built once, by a thread
started at the end of the import or by the first request, whichever comes first
(docs/PERFORMANCE.md, "Lambda cold start").
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from .runtime import build_runtime, start_pool, warm_in_background

# The sandbox's zygote and isolation probe start in their own process now, while the
# app's modules import (docs/PERFORMANCE.md, "Lambda cold start").
_pool = start_pool()

from aws_lambda_powertools.logging import Logger  # noqa: E402
from aws_lambda_powertools.metrics import Metrics  # noqa: E402

from .observe import traced  # noqa: E402

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
metrics = Metrics()

runtime = build_runtime(pool=_pool)
_app: list[APIGatewayHttpResolver] = []
_app_lock = threading.Lock()


def app() -> APIGatewayHttpResolver:
    """The resolver with every route, built once (by the first request)."""
    with _app_lock:
        if not _app:
            from ..api.app import build_app

            r = runtime
            _app.append(build_app(r.plane, r.ingest, r.delivery, r.dispatcher))
        return _app[0]


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@traced
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app().resolve(event, context)


# Last: the resolver and its services, built while the zygote is still starting.
warm_in_background(runtime, clients=("dynamodb",), build=app)

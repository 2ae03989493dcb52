"""Delivery: ingest, the queue, delivery records, dispatch to workers, and replay.

Ports and services live here; each backend is a subpackage (``embedded``: SQLite;
``aws``: SQS and DynamoDB). It may import ``control``'s service and ports, ``manifest``
and ``sandbox.host``. It never imports ``api``, ``server``, ``lambdas`` or ``cli``, and its
core never imports a backend or boto3.
"""

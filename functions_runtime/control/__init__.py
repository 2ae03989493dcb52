"""The control plane: workspaces, functions, versions, instances, sources, audit.

The service, models and ports live here; each backend is a subpackage (``embedded``:
SQLite, files and a local key; ``aws``: DynamoDB, S3, KMS). It may import ``manifest``
and ``sandbox`` (to validate uploads and run tests). It never imports ``delivery``,
``api``, ``server``, ``lambdas`` or ``cli``, and its core never imports a backend or boto3.
"""

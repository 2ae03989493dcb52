"""What runs inside a worker process: zygote, worker loop, guards, namespace, modules.

It may import the sandbox's ``compiler``/``policy``, the SDK and the standard library.
It must never import ``sandbox.host``, ``control``, ``delivery``, ``api``, ``server``,
``lambdas``, ``cli`` or boto3: a worker holds no platform credentials or clients.
"""

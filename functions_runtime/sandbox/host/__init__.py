"""What runs in the platform to drive workers: the pool (``pool``) and the zygote client.

It may import ``sandbox.guest.protocol`` (the wire format), ``sandbox.compiler``,
``manifest`` and the SDK. It must never import ``control``, ``delivery``, ``api``,
``server``, ``lambdas`` or ``cli``: delivery and the CLI call it, not the reverse.
"""

"""``functions serve``: the embedded process tree (HTTP API + ingest, delivery processes).

It may import ``api``, ``control``, ``delivery``, ``sandbox.host`` and ``manifest``.
Nothing but ``cli`` and ``demo`` imports it; it never imports ``lambdas`` or ``cli``.
"""

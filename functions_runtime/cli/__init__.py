"""The ``functions`` command: local commands (``main``), remote ones (``remote``), and the
HTTP API client (``client``).

It sits on top and may import any package of the runtime; nothing in the runtime imports
it (``demo`` drives it as a subprocess).
"""

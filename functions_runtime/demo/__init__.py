"""``make demo``: the sample function on every sample event (``run``), then live (``live``).

It may import any package of the runtime; nothing imports it.
"""

"""Code that runs inside the worker process (the guest side of the sandbox).

May import the SDK and the sandbox's own guest modules; never the host side.
"""

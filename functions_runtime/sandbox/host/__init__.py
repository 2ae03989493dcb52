"""The trusted side of the sandbox: what runs in the host process on a worker's behalf.

Nothing here is imported by a worker (guest/); the worker reaches it only through frames.
"""

"""Code that runs inside the sandbox worker (and its zygote).

It may import the SDK and the standard library; nothing in the host may be imported here.
"""

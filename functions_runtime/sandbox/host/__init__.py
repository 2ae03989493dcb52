"""The host side of the sandbox: pools, the zygote client, isolation reports.

It starts and kills workers; code in guest/ must never import it.
"""

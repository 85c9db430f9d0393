"""``make chaos``: faults against a running local stack while files of every format flow, and
an account per fault of what went in and what came out (see ``python -m devstack.chaos -h``)."""

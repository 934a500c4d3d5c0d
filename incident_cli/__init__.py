"""``incident``: the on-call command line."""

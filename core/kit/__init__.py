"""The toolkit: cache, child processes, the cross toolchain, fetching, the status channel.

What core and plugins use to do their work, as opposed to :mod:`pocketbench.core.api`,
the contract (data model, hooks, errors) they agree on.
"""

"""The ingress and admin clients' internals; the public surface is :mod:`restate_trio.client`."""

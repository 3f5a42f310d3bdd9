"""HTTP transport: the ASGI app and hypercorn serving. The only layer that knows HTTP."""

"""Sans-I/O Restate service protocol: framing, messages, state machine, identity."""

"""Generated protobuf bindings for the Restate service protocol (see tools/gen_proto.py)."""

"""The context API implemented on trio over the sans-I/O state machine."""

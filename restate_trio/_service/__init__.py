"""Service definitions and reflection of plain classes into them (no trio, no I/O)."""

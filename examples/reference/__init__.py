"""Short examples the API reference includes, one region per public name."""

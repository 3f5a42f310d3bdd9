"""The documentation's tutorial, one module per step (docs/tutorial/); tested by
examples/tutorial/test_app.py."""

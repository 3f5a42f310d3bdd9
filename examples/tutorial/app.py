"""The tutorial's application: every step's services on one endpoint.

``restate-trio dev examples.tutorial.app:endpoint`` serves it with a local Restate and its
UI (step 6); ``examples/tutorial/test_app.py`` tests it with the pytest plugin (step 5).
"""

from __future__ import annotations

import restate_trio as restate
from examples.tutorial.greeter import Greeter
from examples.tutorial.signup import Signup
from examples.tutorial.visits import Visits

endpoint = restate.Endpoint().bind(
    restate.reflect(Greeter()), restate.reflect(Visits()), restate.reflect(Signup())
)

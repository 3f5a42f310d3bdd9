"""restate-trio: a trio-native SDK for Restate."""

from ._version import __version__ as __version__
from .context import (
    Context as Context,
    DurableFuture as DurableFuture,
    ObjectContext as ObjectContext,
    ObjectSharedContext as ObjectSharedContext,
    Request as Request,
    WorkflowContext as WorkflowContext,
    WorkflowSharedContext as WorkflowSharedContext,
)
from .errors import TerminalError as TerminalError

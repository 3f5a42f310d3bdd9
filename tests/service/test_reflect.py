"""Reflection of plain classes into service definitions (string annotations on purpose)."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import textwrap
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

import pytest

import restate_trio as restate
import restate_trio.service as service_module
from restate_trio._service import definitions as definitions_module
from restate_trio.codecs import DEFAULT_CODEC, JsonCodec
from restate_trio.service import (
    HandlerKind,
    ServiceDefinition,
    ServiceDefinitionError,
    ServiceKind,
    reflect,
    service_name,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

T = TypeVar("T")


# --- the example services ------------------------------------------------------------------------


class Greeter:
    """Greets people."""

    async def greet(self, ctx: restate.Context, name: str) -> str:
        """Say hello."""
        return f"Hello {name}!"


class Counter:
    async def add(self, ctx: restate.ObjectContext, delta: int) -> int:
        return delta

    async def current(self, ctx: restate.ObjectSharedContext) -> int:
        return 0


class Signup:
    async def run(self, ctx: restate.WorkflowContext, email: str) -> str:
        return email

    async def status(self, ctx: restate.WorkflowSharedContext) -> str | None:
        return None


@dataclasses.dataclass
class Order:
    id: str
    quantity: int


def kinds(definition: ServiceDefinition) -> list[tuple[str, HandlerKind | None]]:
    return [(h.name, h.kind) for h in definition.handlers.values()]


def error(message: str) -> pytest.RaisesExc[ServiceDefinitionError]:
    return pytest.raises(ServiceDefinitionError, match=re.escape(message))


# --- the three kinds -----------------------------------------------------------------------------


def test_service() -> None:
    greeter = Greeter()
    definition = reflect(greeter)
    assert definition.name == "Greeter"
    assert definition.kind is ServiceKind.SERVICE
    assert kinds(definition) == [("greet", None)]
    handler = definition.handlers["greet"]
    assert handler.has_input
    assert handler.input_type is str
    assert handler.output_type is str
    assert handler.has_output
    assert handler.input_required
    # Nothing declared: codecs are inherited (the endpoint's default, else JSON).
    assert handler.input_codec is None
    assert handler.codec is None
    assert definition.codec is None
    assert handler.effective_input_codec is DEFAULT_CODEC
    assert handler.effective_output_codec is DEFAULT_CODEC
    # The bound method of the very instance.
    assert getattr(handler.fn, "__self__", None) is greeter
    assert getattr(handler.fn, "__func__", None) is Greeter.greet


async def test_handler_fn_is_callable() -> None:
    handler = reflect(Greeter()).handlers["greet"]
    assert await handler.fn(object(), "Ada") == "Hello Ada!"


def test_virtual_object() -> None:
    definition = reflect(Counter())
    assert definition.kind is ServiceKind.VIRTUAL_OBJECT
    assert kinds(definition) == [("add", HandlerKind.EXCLUSIVE), ("current", HandlerKind.SHARED)]
    current = definition.handlers["current"]
    assert not current.has_input
    assert not current.input_required
    assert current.output_type is int


def test_workflow() -> None:
    definition = reflect(Signup())
    assert definition.kind is ServiceKind.WORKFLOW
    assert kinds(definition) == [("run", HandlerKind.WORKFLOW), ("status", HandlerKind.SHARED)]
    assert definition.handlers["status"].output_type == (str | None)


def test_definitions_are_immutable() -> None:
    definition = reflect(Counter())
    with pytest.raises(dataclasses.FrozenInstanceError):
        definition.name = "Other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        definition.handlers["x"] = definition.handlers["add"]  # type: ignore[index]


# --- which methods are handlers ------------------------------------------------------------------


class Base:
    async def first(self, ctx: restate.ObjectContext) -> None: ...

    async def second(self, ctx: restate.ObjectSharedContext) -> None: ...


class Derived(Base):
    async def third(self, ctx: restate.ObjectContext) -> None: ...

    async def first(self, ctx: restate.ObjectContext) -> None:  # override keeps its place
        ...

    async def _private(self, ctx: restate.ObjectContext) -> None: ...


def test_definition_order_base_first() -> None:
    definition = reflect(Derived())
    assert list(definition.handlers) == ["first", "second", "third"]
    assert getattr(definition.handlers["first"].fn, "__func__", None) is Derived.first


class WithHelpers:
    limit = 3

    async def handle(self, ctx: restate.Context) -> None: ...

    def helper(self, value: int) -> int:
        return value

    async def no_params(self) -> None: ...

    async def unannotated(self, ctx) -> None: ...  # type: ignore[no-untyped-def]

    async def wrong_context(self, ctx: int) -> None: ...

    @staticmethod
    async def static(ctx: restate.Context) -> None: ...

    @classmethod
    async def klass(cls, ctx: restate.Context) -> None: ...

    @property
    def prop(self) -> int:
        return 1


def test_non_handlers_are_skipped() -> None:
    definition = reflect(WithHelpers())
    assert list(definition.handlers) == ["handle"]


class NoHandlers:
    limit = 3

    def helper(self, value: int) -> int:
        return value

    async def no_params(self) -> None: ...

    async def unannotated(self, ctx) -> None: ...  # type: ignore[no-untyped-def]

    async def wrong_context(self, ctx: int) -> None: ...

    @staticmethod
    async def static(ctx: restate.Context) -> None: ...

    @classmethod
    async def klass(cls, ctx: restate.Context) -> None: ...

    @property
    def prop(self) -> int:
        return 1


def test_no_handlers_lists_skip_reasons() -> None:
    with pytest.raises(ServiceDefinitionError) as info:
        reflect(NoHandlers())
    message = str(info.value)
    assert message.startswith("NoHandlers: no handlers found.")
    assert "restate.Context, restate.ObjectContext" in message
    for reason in [
        "limit (not a method: int)",
        "helper (parameter 'value' is annotated with int, not a restate context)",
        "no_params (takes no parameter after self; a handler takes a restate context first)",
        "unannotated (parameter 'ctx' has no annotation)",
        "wrong_context (parameter 'ctx' is annotated with int, not a restate context)",
        "static (a static method)",
        "klass (a class method)",
        "prop (not a method: property)",
    ]:
        assert reason in message


def test_empty_class() -> None:
    class Empty:
        pass

    with error("Empty: no handlers found.") as info:
        reflect(Empty())
    assert "Skipped methods: none (the class has no public methods)" in str(info.value)


def test_reflecting_a_class_instead_of_an_instance() -> None:
    with error("Greeter: reflect() takes an instance, not a class: use reflect(Greeter())"):
        reflect(Greeter)


def test_context_subclass_is_not_a_context() -> None:
    class MyContext(restate.Context, Protocol):
        pass

    class Svc:
        async def handle(self, ctx: MyContext) -> None: ...

    with error("Svc: no handlers found"):
        reflect(Svc())


# --- handler signature errors --------------------------------------------------------------------


def test_sync_handler_is_an_error() -> None:
    class Bad:
        def add(self, ctx: restate.ObjectContext, delta: int) -> int:
            return delta

    with error("Bad.add: a handler must be a coroutine function (async def), but it is not an"):
        reflect(Bad())


def test_async_generator_is_an_error() -> None:
    class Bad:
        async def stream(self, ctx: restate.Context):  # type: ignore[no-untyped-def]
            yield 1

    with error("Bad.stream: a handler must be a coroutine function (async def), but it is an "):
        reflect(Bad())


def test_too_many_inputs() -> None:
    class Bad:
        async def add(self, ctx: restate.ObjectContext, a: int, b: int) -> int:
            return a + b

    with error("Bad.add: too many parameters ('a', 'b'); a restate handler takes a context and "):
        reflect(Bad())


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ("self, ctx: restate.Context, *, name: str", "parameter 'name' is keyword-only"),
        ("self, ctx: restate.Context, *names: str", "parameter 'names' is a *args parameter"),
        ("self, ctx: restate.Context, **kw: str", "parameter 'kw' is a **kwargs parameter"),
        ("self, *, ctx: restate.Context", "the context parameter 'ctx' must be positional, not "),
        ("self, ctx: restate.Context = None", "the context parameter 'ctx' must not have a def"),
        (
            "self, ctx: restate.Context, name: str = 'x'",
            "the input parameter 'name' must not have a default value",
        ),
    ],
)
def test_bad_parameters(signature: str, message: str) -> None:
    namespace: dict[str, object] = {"restate": restate}
    source = f"""
    from __future__ import annotations

    class Bad:
        async def handle({signature}) -> None: ...
    """
    exec(textwrap.dedent(source), namespace)
    with error(f"Bad.handle: {message}"):
        reflect(namespace["Bad"]())  # type: ignore[operator]


def test_mixed_service_kinds() -> None:
    class Mixed:
        async def a(self, ctx: restate.Context) -> None: ...

        async def b(self, ctx: restate.ObjectContext) -> None: ...

    with error(
        "Mixed.b: the first parameter is annotated with restate.ObjectContext, but Mixed is a "
        "service (decided by Mixed.a); only restate.Context are accepted"
    ):
        reflect(Mixed())


def test_mixed_object_and_workflow() -> None:
    class Mixed:
        async def a(self, ctx: restate.ObjectSharedContext) -> None: ...

        async def b(self, ctx: restate.WorkflowSharedContext) -> None: ...

    with error(
        "Mixed.b: the first parameter is annotated with restate.WorkflowSharedContext, but Mixed "
        "is a virtual object (decided by Mixed.a); only restate.ObjectContext or "
        "restate.ObjectSharedContext are accepted"
    ):
        reflect(Mixed())


def test_workflow_needs_a_run_handler() -> None:
    class NoRun:
        async def status(self, ctx: restate.WorkflowSharedContext) -> str:
            return ""

    with error("NoRun: no handler takes restate.WorkflowContext; a workflow must have exactly one"):
        reflect(NoRun())


def test_workflow_has_only_one_run_handler() -> None:
    class TwoRuns:
        async def run(self, ctx: restate.WorkflowContext) -> None: ...

        async def again(self, ctx: restate.WorkflowContext) -> None: ...

    with error(
        "TwoRuns.again: found more than one handler taking restate.WorkflowContext (run and "
        "again); a workflow has exactly one run handler"
    ):
        reflect(TwoRuns())


# --- inputs, outputs and annotations -------------------------------------------------------------


class Shapes:
    async def untyped_input(self, ctx: restate.Context, data) -> None: ...  # type: ignore[no-untyped-def]

    async def no_return(self, ctx: restate.Context, order: Order):  # type: ignore[no-untyped-def]
        return None

    async def optional(self, ctx: restate.Context, count: int | None) -> list[Order]:
        return []

    async def nothing(self, ctx: restate.Context) -> None: ...


def test_input_and_output_types() -> None:
    handlers = reflect(Shapes()).handlers
    untyped = handlers["untyped_input"]
    assert untyped.has_input
    assert untyped.input_type is object
    assert not untyped.input_required  # plain JSON data includes null
    assert untyped.output_type is None
    assert not untyped.has_output

    no_return = handlers["no_return"]
    assert no_return.input_type is Order  # string annotation resolved
    assert no_return.input_required
    assert no_return.output_type is None

    optional = handlers["optional"]
    assert optional.input_type == (int | None)
    assert not optional.input_required
    assert optional.output_type == list[Order]

    nothing = handlers["nothing"]
    assert not nothing.has_input
    assert nothing.input_type is None
    assert nothing.output_type is None


def test_annotations_are_strings_in_this_module() -> None:
    assert Greeter.greet.__annotations__["ctx"] == "restate.Context"


def test_unresolvable_input_annotation_is_an_error() -> None:
    class Bad:
        async def handle(self, ctx: restate.Context, x: Missing) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    with error("Bad.handle: cannot resolve parameter 'x' 'Missing' (NameError: name 'Missing' is"):
        reflect(Bad())


def test_unresolvable_return_annotation_is_an_error() -> None:
    class Bad:
        async def handle(self, ctx: restate.Context) -> Missing: ...  # type: ignore[name-defined]  # noqa: F821

    with error("Bad.handle: cannot resolve the return annotation 'Missing'"):
        reflect(Bad())


def test_unresolvable_context_annotation_is_an_error() -> None:
    class Bad:
        async def handle(self, ctx: missing.ObjectContext) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    with error(
        "Bad.handle: cannot resolve the annotation 'missing.ObjectContext' of parameter 'ctx'"
    ):
        reflect(Bad())


def test_unresolvable_other_first_parameter_is_skipped() -> None:
    class Svc:
        async def handle(self, ctx: restate.Context) -> None: ...

        def helper(self, value: Missing) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    assert list(reflect(Svc()).handlers) == ["handle"]


def logged(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    @functools.wraps(fn)
    async def wrapper(*args: object) -> T:
        return await fn(*args)

    return wrapper


class Decorated:
    @logged
    async def greet(self, ctx: restate.Context, name: str) -> str:
        return name


async def test_decorated_handler_uses_the_wrapped_signature() -> None:
    handler = reflect(Decorated()).handlers["greet"]
    assert handler.input_type is str
    assert handler.output_type is str
    assert await handler.fn(object(), "x") == "x"


# --- names ---------------------------------------------------------------------------------------


def test_explicit_name() -> None:
    assert reflect(Greeter(), "greeter.v2-beta").name == "greeter.v2-beta"


@pytest.mark.parametrize("name", ["1svc", "my svc", "-a", "_", "é"])
def test_invalid_service_name(name: str) -> None:
    with error(f"Greeter: invalid service name {name!r}: it must start with a letter"):
        reflect(Greeter(), name)


@pytest.mark.parametrize("name", ["restate", "Restate.Foo", "RESTATEx", "openapi"])
def test_reserved_service_name(name: str) -> None:
    with error(f"Greeter: invalid service name {name!r}: names starting with 'restate'"):
        reflect(Greeter(), name)


@pytest.mark.parametrize("name", ["a", "_a", "_1", "my.svc-1", "OpenAPI", "openapi2"])
def test_valid_service_name(name: str) -> None:
    assert reflect(Greeter(), name).name == name


def test_invalid_handler_name() -> None:
    namespace: dict[str, object] = {"restate": restate}
    source = """
    class Bad:
        async def grüße(self, ctx: restate.Context) -> None: ...
    """
    exec(textwrap.dedent(source), namespace)
    with error("Bad.grüße: invalid handler name 'grüße'"):
        reflect(namespace["Bad"]())  # type: ignore[operator]


def test_service_name_decorator() -> None:
    @service_name("greeter")
    class Named:
        async def greet(self, ctx: restate.Context) -> None: ...

    assert reflect(Named()).name == "greeter"
    assert reflect(Named(), "explicit").name == "explicit"


def test_service_name_decorator_validates() -> None:
    with error("invalid service name 'restate_x'"):
        service_name("restate_x")
    with error("invalid service name 'a b'"):
        service_name("a b")


def test_service_name_decorates_only_classes() -> None:
    with error("@service_name('x') decorates a class, got function"):
        service_name("x")(lambda: None)  # type: ignore[type-var]


@runtime_checkable
@service_name("greeter")
class GreeterApi(Protocol):
    """The greeter interface."""

    async def greet(self, ctx: restate.Context, name: str) -> str:
        """Greet someone by name."""
        ...


class GreeterImpl(GreeterApi):
    async def greet(self, ctx: restate.Context, name: str) -> str:
        return f"Hi {name}"


class StructuralGreeter:
    async def greet(self, ctx: restate.Context, name: str) -> str:
        return name


def test_protocol_interface_gives_name_and_docs() -> None:
    definition = reflect(GreeterImpl())
    assert definition.name == "greeter"
    assert definition.documentation == "The greeter interface."
    assert definition.handlers["greet"].documentation == "Greet someone by name."
    assert getattr(definition.handlers["greet"].fn, "__func__", None) is GreeterImpl.greet


def test_decorated_protocol_is_still_a_protocol() -> None:
    assert getattr(GreeterApi, "_is_protocol", False)
    with pytest.raises(TypeError):
        GreeterApi()  # type: ignore[misc]
    assert isinstance(StructuralGreeter(), GreeterApi)
    assert isinstance(GreeterImpl(), GreeterApi)
    assert not isinstance(object(), GreeterApi)
    # The structural implementation is not a subclass: it keeps its own name.
    assert reflect(StructuralGreeter()).name == "StructuralGreeter"


def test_implementation_can_rename() -> None:
    @service_name("greeter-impl")
    class Renamed(GreeterApi):
        async def greet(self, ctx: restate.Context, name: str) -> str:
            return name

    assert reflect(Renamed()).name == "greeter-impl"
    assert reflect(GreeterImpl()).name == "greeter"


# --- documentation -------------------------------------------------------------------------------


def test_docstrings() -> None:
    definition = reflect(Greeter())
    assert definition.documentation == "Greets people."
    assert definition.handlers["greet"].documentation == "Say hello."


def test_explicit_documentation_wins() -> None:
    assert reflect(Greeter(), documentation="Other.").documentation == "Other."


def test_no_docstrings() -> None:
    class Plain(Protocol):
        async def greet(self, ctx: restate.Context) -> None: ...

    class Impl(Plain):
        async def greet(self, ctx: restate.Context) -> None: ...

    definition = reflect(Impl())
    assert definition.documentation is None  # not typing.Protocol's docstring
    assert definition.handlers["greet"].documentation is None


def test_dataclass_generated_docstring_is_ignored() -> None:
    @dataclasses.dataclass
    class Configured:
        greeting: str

        async def greet(self, ctx: restate.Context, name: str) -> str:
            return f"{self.greeting} {name}"

    @dataclasses.dataclass
    class Documented:
        """Documented(for real)"""

        greeting: str

        async def greet(self, ctx: restate.Context, name: str) -> str:
            return name

    assert (Configured.__doc__ or "").startswith("Configured(greeting: ")
    assert reflect(Configured("Hi")).documentation is None
    assert reflect(Documented("Hi")).documentation == "Documented(for real)"


def test_multiline_docstring_is_cleaned() -> None:
    class Svc:
        """First line.

        More text.
        """

        async def go(self, ctx: restate.Context) -> None:
            """
            Go.
            """

    definition = reflect(Svc())
    assert definition.documentation == "First line.\n\nMore text."
    assert definition.handlers["go"].documentation == "Go."


# --- service options -----------------------------------------------------------------------------


def test_service_options() -> None:
    codec = JsonCodec()
    definition = reflect(
        Counter(),
        codec=codec,
        metadata={"team": "core"},
        inactivity_timeout=timedelta(seconds=30),
        abort_timeout=timedelta(minutes=2),
        idempotency_retention=timedelta(hours=1),
        journal_retention=timedelta(days=2),
        enable_lazy_state=True,
        ingress_private=False,
    )
    assert definition.codec is codec
    assert all(
        h.effective_input_codec is codec and h.effective_output_codec is codec
        for h in definition.handlers.values()
    )
    assert dict(definition.metadata) == {"team": "core"}
    assert definition.inactivity_timeout == timedelta(seconds=30)
    assert definition.abort_timeout == timedelta(minutes=2)
    assert definition.idempotency_retention == timedelta(hours=1)
    assert definition.journal_retention == timedelta(days=2)
    assert definition.enable_lazy_state is True
    assert definition.ingress_private is False


def test_metadata_is_copied() -> None:
    metadata = {"a": "b"}
    definition = reflect(Greeter(), metadata=metadata)
    metadata["c"] = "d"
    assert dict(definition.metadata) == {"a": "b"}


def test_workflow_retention_goes_to_the_run_handler() -> None:
    definition = reflect(Signup(), workflow_retention=timedelta(days=7))
    assert definition.handlers["run"].workflow_retention == timedelta(days=7)
    assert definition.handlers["status"].workflow_retention is None


@pytest.mark.parametrize(("cls", "what"), [(Greeter, "a service"), (Counter, "a virtual object")])
def test_workflow_retention_only_for_workflows(cls: type, what: str) -> None:
    name = cls.__name__
    with error(f"{name}: workflow_retention can be set only for workflows, but {name} is {what}"):
        reflect(cls(), workflow_retention=timedelta(days=1))


def test_lazy_state_not_on_services() -> None:
    with error("Greeter: enable_lazy_state can be set only for virtual objects and workflows"):
        reflect(Greeter(), enable_lazy_state=True)
    assert reflect(Signup(), enable_lazy_state=False).enable_lazy_state is False


def test_negative_duration() -> None:
    with error("Greeter: inactivity_timeout must not be negative"):
        reflect(Greeter(), inactivity_timeout=timedelta(seconds=-1))


def test_duration_must_be_timedelta() -> None:
    with error("Greeter: abort_timeout must be a datetime.timedelta, got int: 10"):
        reflect(Greeter(), abort_timeout=10)  # type: ignore[arg-type]


def test_metadata_must_map_strings() -> None:
    with error("Greeter: metadata must map str to str, got 'a': 1"):
        reflect(Greeter(), metadata={"a": 1})  # type: ignore[dict-item]


# --- configure_handler ---------------------------------------------------------------------------


def test_configure_handler_returns_a_new_definition() -> None:
    original = reflect(Counter())
    configured = original.configure_handler(
        "add",
        documentation="Adds.",
        metadata={"k": "v"},
        inactivity_timeout=timedelta(seconds=1),
        abort_timeout=timedelta(seconds=2),
        idempotency_retention=timedelta(seconds=3),
        journal_retention=timedelta(seconds=4),
        enable_lazy_state=True,
        ingress_private=True,
    )
    add = configured.handlers["add"]
    assert add.documentation == "Adds."
    assert dict(add.metadata) == {"k": "v"}
    assert add.inactivity_timeout == timedelta(seconds=1)
    assert add.abort_timeout == timedelta(seconds=2)
    assert add.idempotency_retention == timedelta(seconds=3)
    assert add.journal_retention == timedelta(seconds=4)
    assert add.enable_lazy_state is True
    assert add.ingress_private is True
    assert list(configured.handlers) == ["add", "current"]
    assert configured.handlers["current"] is original.handlers["current"]
    # The original is untouched.
    assert original.handlers["add"].documentation is None
    assert original.handlers["add"].inactivity_timeout is None
    # Options not given are kept; None unsets.
    again = configured.configure_handler("add", inactivity_timeout=None)
    assert again.handlers["add"].inactivity_timeout is None
    assert again.handlers["add"].abort_timeout == timedelta(seconds=2)
    assert dict(again.configure_handler("add", metadata={}).handlers["add"].metadata) == {}


def test_configure_unknown_handler() -> None:
    with error("Counter: handler not found: nope (handlers: add, current)"):
        reflect(Counter()).configure_handler("nope", documentation="x")


def test_configure_codecs() -> None:
    definition = reflect(Counter())
    codec, other = JsonCodec(), JsonCodec()
    both = definition.configure_handler("add", codec=codec).handlers["add"]
    assert both.effective_input_codec is codec
    assert both.effective_output_codec is codec
    assert both.effective_codec is codec
    split = definition.configure_handler("add", input_codec=codec, output_codec=other)
    assert split.handlers["add"].effective_input_codec is codec
    assert split.handlers["add"].effective_output_codec is other
    assert split.handlers["add"].effective_codec is DEFAULT_CODEC
    only_output = definition.configure_handler("add", output_codec=other).handlers["add"]
    assert only_output.effective_input_codec is DEFAULT_CODEC
    assert only_output.effective_output_codec is other
    # Nearest wins: a direction-specific codec beats the handler's default.
    mixed = definition.configure_handler("add", codec=codec, input_codec=other)
    assert mixed.handlers["add"].effective_input_codec is other
    assert mixed.handlers["add"].effective_output_codec is codec


def test_configure_workflow_retention() -> None:
    definition = reflect(Signup()).configure_handler("run", workflow_retention=timedelta(days=3))
    assert definition.handlers["run"].workflow_retention == timedelta(days=3)
    with error(
        "Signup.status: workflow_retention can be set only on a workflow's WORKFLOW handler"
    ):
        definition.configure_handler("status", workflow_retention=timedelta(days=1))
    with error("Counter.add: workflow_retention can be set only on a workflow's WORKFLOW handler"):
        reflect(Counter()).configure_handler("add", workflow_retention=timedelta(days=1))


def test_configure_idempotency_retention_not_on_run() -> None:
    definition = reflect(Signup())
    with error("Signup.run: idempotency_retention cannot be set on a workflow's WORKFLOW handler"):
        definition.configure_handler("run", idempotency_retention=timedelta(days=1))
    shared = definition.configure_handler("status", idempotency_retention=timedelta(days=1))
    assert shared.handlers["status"].idempotency_retention == timedelta(days=1)


def test_configure_lazy_state_not_on_services() -> None:
    with error("Greeter.greet: enable_lazy_state can be set only on virtual objects and workflows"):
        reflect(Greeter()).configure_handler("greet", enable_lazy_state=True)


def test_configure_public_handler_of_private_service() -> None:
    definition = reflect(Greeter(), ingress_private=True)
    with error("Greeter.greet: the service is ingress_private, so a handler cannot be made public"):
        definition.configure_handler("greet", ingress_private=False)
    private = definition.configure_handler("greet", ingress_private=True)
    assert private.handlers["greet"].ingress_private is True


def test_configure_validates_values() -> None:
    with error("Counter.add: journal_retention must not be negative"):
        reflect(Counter()).configure_handler("add", journal_retention=timedelta(seconds=-1))
    with error("Counter.add: documentation must be a str or None, got int: 3"):
        reflect(Counter()).configure_handler("add", documentation=3)  # type: ignore[arg-type]


# --- ServiceDefinition validation (direct construction) ------------------------------------------


def test_direct_construction_checks_handler_kinds() -> None:
    add = reflect(Counter()).handlers["add"]
    with error("Svc.add: handler kind EXCLUSIVE is not valid in a SERVICE service; only unset are"):
        ServiceDefinition(name="Svc", kind=ServiceKind.SERVICE, handlers={"add": add})
    with error("Wf: a workflow must have exactly one WORKFLOW handler"):
        ServiceDefinition(
            name="Wf",
            kind=ServiceKind.WORKFLOW,
            handlers={"status": reflect(Signup()).handlers["status"]},
        )
    with error("Obj.other: handler registered under 'other' but named 'add'"):
        ServiceDefinition(name="Obj", kind=ServiceKind.VIRTUAL_OBJECT, handlers={"other": add})


def test_type_accepts_none() -> None:
    from typing import Annotated, Any, Literal, NewType, Optional, Union

    accepts = definitions_module.type_accepts_none
    maybe_int = NewType("maybe_int", Optional[int])  # type: ignore[valid-newtype]  # noqa: UP045
    yes: list[object] = [object, Any, None, type(None), int | None, Optional[str], Union[int, None]]  # noqa: UP007, UP045
    yes += [Annotated[int | None, "x"], Literal["a", None], maybe_int]  # noqa: PYI061
    no: list[object] = [int, str, list[int | None], Literal["a"], Order, Annotated[int, "x"]]
    for tp in yes:
        assert accepts(tp), tp
    for tp in no:
        assert not accepts(tp), tp


# --- the examples in the docstrings run ----------------------------------------------------------


def _examples(doc: str | None) -> list[str]:
    """The ``::`` literal blocks of a docstring."""
    assert doc
    lines = inspect.cleandoc(doc).splitlines()
    blocks: list[str] = []
    index = 0
    while index < len(lines):
        if lines[index].rstrip().endswith("::"):
            index += 1
            block: list[str] = []
            while index < len(lines) and (not lines[index].strip() or lines[index][0] == " "):
                block.append(lines[index])
                index += 1
            blocks.append(textwrap.dedent("\n".join(block)))
        else:
            index += 1
    return blocks


@pytest.mark.parametrize(
    "documented",
    [
        reflect,
        service_name,
        service_module,
    ],
    ids=["reflect", "service_name", "service_module"],
)
def test_docstring_examples_run(documented: object) -> None:
    examples = _examples(getattr(documented, "__doc__", None))
    assert examples
    for example in examples:
        exec(compile(example, "<docstring>", "exec"), {"__name__": "docstring_example"})

"""The ingress client: call, send to and attach to Restate handlers from a trio program."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import TypeVar, cast, overload

import orjson

from .._service.targets import Target
from ..codecs import DEFAULT_CODEC, PayloadCodec
from ..context import Context, ObjectContext, WorkflowContext
from . import addressing
from .addressing import AttachOrOutput
from .base import ClientBase
from .errors import (
    IngressError,
    InvocationFailedError,
    InvocationNotFoundError,
    InvocationNotReadyError,
    NotFoundError,
)
from .handles import Fetch, InvocationHandle, SendStatus, WorkflowHandle
from .http import Answer, error_fields
from .payloads import content_type_header, decode_as, encode_argument, output_decoder, resolve

__all__ = ["Client"]

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - a handler's input type
O = TypeVar("O")  # noqa: E741 - a handler's output type
S = TypeVar("S")  # the service class of a handler reference

_NOT_READY = 470


def raise_for_answer(answer: Answer, *, attach: bool = False) -> None:
    """Raise the error an unsuccessful ingress answer stands for.

    Restate says who failed in ``x-restate-error-source``: ``invocation`` (the handler's
    terminal failure, or Restate ending it) or ``ingress`` (the request itself). On the attach
    and output routes a 404 always means "no such invocation": a handler's own 404 failure
    cannot be told apart there.
    """
    if answer.ok:
        return
    code, message, metadata = error_fields(answer)
    status, body = answer.status, answer.body
    if status == _NOT_READY:
        raise InvocationNotReadyError(message, code, status=status, body=body)
    if status == 404 and attach:
        raise InvocationNotFoundError(message, code, status=status, body=body)
    if answer.headers.get("x-restate-error-source") == "invocation":
        raise InvocationFailedError(
            message,
            code,
            status=status,
            body=body,
            invocation_id=answer.headers.get("x-restate-id"),
            metadata=metadata,
        )
    if status == 404:
        raise NotFoundError(message, code, status=status, body=body)
    raise IngressError(message, code, status=status, body=body)


def _send_answer(answer: Answer) -> tuple[str, SendStatus]:
    raise_for_answer(answer)
    decoded: object = orjson.loads(answer.body)
    if isinstance(decoded, dict):
        fields = cast("dict[str, object]", decoded)
        invocation_id, status = fields.get("invocationId"), fields.get("status")
        if isinstance(invocation_id, str) and status in ("Accepted", "PreviouslyAccepted"):
            return invocation_id, "accepted" if status == "Accepted" else "previously_accepted"
    raise IngressError(
        f"unexpected answer to a send: {answer.body!r}",
        answer.status,
        status=answer.status,
        body=answer.body,
    )


def _options_headers(
    headers: Mapping[str, str] | None, idempotency_key: str | None
) -> dict[str, str]:
    merged = dict(headers or {})
    if idempotency_key is not None:
        merged["idempotency-key"] = idempotency_key
    return merged


class Client(ClientBase):
    """A client of Restate's ingress, for trio programs (and tests) outside handlers.

    Calls by method reference are typed like the calls in handlers and use the callee's
    declared codecs; calls by name take raw bytes.

    Timeouts are trio cancel scopes (``with trio.fail_after(5): ...``): a cancelled request
    closes its connection, and the client stays usable.

    :param url: the ingress URL, e.g. ``http://127.0.0.1:8080``.
    :param headers: sent with every request (e.g. ``{"authorization": "Bearer ..."}``).
    :param retry: retry requests that are safe to retry (an idempotency key, a workflow
        submission, attach and output) with this policy; ``None``: never retry.
    :param http_client: an ``httpx.AsyncClient`` to send requests with (TLS settings,
        proxies, limits); the client does not close it. By default the client makes its own.
    """

    _propagate_trace = True

    # -- typed calls --------------------------------------------------------------------------

    @overload
    async def service_call(
        self,
        handler: Callable[[S, Context], Awaitable[O]],
        *,
        codec: PayloadCodec | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> O: ...
    @overload
    async def service_call(
        self,
        handler: Callable[[S, Context, I], Awaitable[O]],
        arg: I,
        *,
        codec: PayloadCodec | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> O: ...
    async def service_call(
        self,
        handler: Callable[..., Awaitable[O]],
        arg: object = None,
        *,
        codec: PayloadCodec | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> O:
        """Call a Service handler by reference and return its result.

        Example: ``greeting = await client.service_call(Greeter.greet, "Ada")``.

        :param codec: encode the argument and decode the result with this codec instead of
            the handler's declared one.
        :param idempotency_key: calls with the same key to the same handler run once; later
            ones get the first one's result (and such a call is safe to retry).
        :param headers: headers for the callee (``ctx.request().headers``).
        :raises InvocationFailedError: the handler ended with a terminal error.
        """
        return await self._typed_call(handler, None, arg, codec, idempotency_key, headers)

    @overload
    async def object_call(
        self,
        handler: Callable[[S, ObjectContext], Awaitable[O]],
        key: str,
        *,
        codec: PayloadCodec | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> O: ...
    @overload
    async def object_call(
        self,
        handler: Callable[[S, ObjectContext, I], Awaitable[O]],
        key: str,
        arg: I,
        *,
        codec: PayloadCodec | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> O: ...
    async def object_call(
        self,
        handler: Callable[..., Awaitable[O]],
        key: str,
        arg: object = None,
        *,
        codec: PayloadCodec | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> O:
        """Call a Virtual Object handler of object ``key`` and return its result.

        Example: ``total = await client.object_call(Counter.add, "alice", 5)``; the options
        are those of :meth:`service_call`.
        """
        return await self._typed_call(handler, key, arg, codec, idempotency_key, headers)

    @overload
    async def workflow_call(
        self,
        handler: Callable[[S, WorkflowContext], Awaitable[O]],
        key: str,
        *,
        codec: PayloadCodec | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> O: ...
    @overload
    async def workflow_call(
        self,
        handler: Callable[[S, WorkflowContext, I], Awaitable[O]],
        key: str,
        arg: I,
        *,
        codec: PayloadCodec | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> O: ...
    async def workflow_call(
        self,
        handler: Callable[..., Awaitable[O]],
        key: str,
        arg: object = None,
        *,
        codec: PayloadCodec | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> O:
        """Call a Workflow handler of workflow ``key`` (its run handler, which starts the
        workflow and waits for it, or a shared handler) and return its result."""
        return await self._typed_call(handler, key, arg, codec, idempotency_key, headers)

    # -- typed sends --------------------------------------------------------------------------

    @overload
    async def service_send(
        self,
        handler: Callable[[S, Context], Awaitable[O]],
        *,
        codec: PayloadCodec | None = None,
        delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle[O]: ...
    @overload
    async def service_send(
        self,
        handler: Callable[[S, Context, I], Awaitable[O]],
        arg: I,
        *,
        codec: PayloadCodec | None = None,
        delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle[O]: ...
    async def service_send(
        self,
        handler: Callable[..., Awaitable[O]],
        arg: object = None,
        *,
        codec: PayloadCodec | None = None,
        delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle[O]:
        """Start an invocation of a Service handler without waiting for it (after ``delay``,
        if given) and return its handle, typed by the handler's result.

        Example: ``handle = await client.service_send(Mailer.send, mail,
        idempotency_key=mail.id)``; then ``await handle.attach()``.
        """
        return await self._typed_send(handler, None, arg, codec, delay, idempotency_key, headers)

    @overload
    async def object_send(
        self,
        handler: Callable[[S, ObjectContext], Awaitable[O]],
        key: str,
        *,
        codec: PayloadCodec | None = None,
        delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle[O]: ...
    @overload
    async def object_send(
        self,
        handler: Callable[[S, ObjectContext, I], Awaitable[O]],
        key: str,
        arg: I,
        *,
        codec: PayloadCodec | None = None,
        delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle[O]: ...
    async def object_send(
        self,
        handler: Callable[..., Awaitable[O]],
        key: str,
        arg: object = None,
        *,
        codec: PayloadCodec | None = None,
        delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle[O]:
        """Start an invocation of a Virtual Object handler of object ``key`` without waiting
        (options as :meth:`service_send`)."""
        return await self._typed_send(handler, key, arg, codec, delay, idempotency_key, headers)

    @overload
    async def workflow_send(
        self,
        handler: Callable[[S, WorkflowContext], Awaitable[O]],
        key: str,
        *,
        codec: PayloadCodec | None = None,
        delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle[O]: ...
    @overload
    async def workflow_send(
        self,
        handler: Callable[[S, WorkflowContext, I], Awaitable[O]],
        key: str,
        arg: I,
        *,
        codec: PayloadCodec | None = None,
        delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle[O]: ...
    async def workflow_send(
        self,
        handler: Callable[..., Awaitable[O]],
        key: str,
        arg: object = None,
        *,
        codec: PayloadCodec | None = None,
        delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle[O]:
        """Send to a Workflow handler of workflow ``key`` without waiting (its run handler:
        prefer :meth:`workflow_submit`, whose handle attaches by workflow key)."""
        return await self._typed_send(handler, key, arg, codec, delay, idempotency_key, headers)

    @overload
    async def workflow_submit(
        self,
        handler: Callable[[S, WorkflowContext], Awaitable[O]],
        key: str,
        *,
        codec: PayloadCodec | None = None,
        delay: timedelta | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> WorkflowHandle[O]: ...
    @overload
    async def workflow_submit(
        self,
        handler: Callable[[S, WorkflowContext, I], Awaitable[O]],
        key: str,
        arg: I,
        *,
        codec: PayloadCodec | None = None,
        delay: timedelta | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> WorkflowHandle[O]: ...
    async def workflow_submit(
        self,
        handler: Callable[..., Awaitable[O]],
        key: str,
        arg: object = None,
        *,
        codec: PayloadCodec | None = None,
        delay: timedelta | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> WorkflowHandle[O]:
        """Start the workflow ``key`` with its run handler and return a handle to attach to
        it or read its output.

        A workflow runs once per key: submitting a key again does not start a second run
        (the handle's ``status`` is then ``"previously_accepted"``), so a submission is safe
        to retry.

        Example::

            run = await client.workflow_submit(Checkout.run, "order-1", order)
            receipt = await run.attach()
        """
        target = resolve(handler, codec)
        body, content_headers = encode_argument(target, arg)
        answer = await self._http.request(
            "POST",
            addressing.call_path(target.service, target.handler, key, send=True),
            body=body,
            headers={**content_headers, **(headers or {})},
            params=addressing.delay_query(delay),
            retry_safe=True,
        )
        invocation_id, status = _send_answer(answer)
        return WorkflowHandle(
            target.service,
            key,
            cast("Fetch[O]", self._workflow_fetch(target, key)),
            invocation_id=invocation_id,
            status=status,
        )

    def workflow_handle(
        self,
        handler: Callable[[S, WorkflowContext], Awaitable[O]]
        | Callable[[S, WorkflowContext, I], Awaitable[O]],
        key: str,
        *,
        codec: PayloadCodec | None = None,
    ) -> WorkflowHandle[O]:
        """A handle on the run of workflow ``key`` (given by its run handler), submitted
        elsewhere: no request is made until ``attach()`` or ``output()``."""
        target = resolve(handler, codec)
        return WorkflowHandle(
            target.service, key, cast("Fetch[O]", self._workflow_fetch(target, key))
        )

    # -- calls by name ------------------------------------------------------------------------

    async def generic_call(
        self,
        service: str,
        handler: str,
        payload: bytes,
        *,
        key: str | None = None,
        content_type: str | None = "application/json",
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """Call any handler by name with a raw payload and return the raw result.

        Example: ``await client.generic_call("Greeter", "greet", b'"Ada"')``.

        :param key: the object or workflow key (``None`` for a Service).
        :param content_type: the payload's content type (``None``: send none).
        """
        answer = await self._http.request(
            "POST",
            addressing.call_path(service, handler, key),
            body=payload,
            headers=self._raw_headers(content_type, headers, idempotency_key),
            retry_safe=idempotency_key is not None,
        )
        raise_for_answer(answer)
        return answer.body

    async def generic_send(
        self,
        service: str,
        handler: str,
        payload: bytes,
        *,
        key: str | None = None,
        content_type: str | None = "application/json",
        delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle[bytes]:
        """Start an invocation of any handler by name with a raw payload; the handle's
        ``attach()`` and ``output()`` return the raw result."""
        answer = await self._http.request(
            "POST",
            addressing.call_path(service, handler, key, send=True),
            body=payload,
            headers=self._raw_headers(content_type, headers, idempotency_key),
            params=addressing.delay_query(delay),
            retry_safe=idempotency_key is not None,
        )
        invocation_id, status = _send_answer(answer)
        fetch = self._invocation_fetch(invocation_id, bytes)
        return InvocationHandle(invocation_id, status, cast("Fetch[bytes]", fetch))

    # -- attach and output --------------------------------------------------------------------

    @overload
    async def attach_invocation(
        self, invocation_id: str, *, type: type[T], codec: PayloadCodec | None = None
    ) -> T: ...
    @overload
    async def attach_invocation(
        self, invocation_id: str, *, type: None = None, codec: PayloadCodec | None = None
    ) -> object: ...
    async def attach_invocation(
        self, invocation_id: str, *, type: object = None, codec: PayloadCodec | None = None
    ) -> object:
        """Wait for the invocation ``invocation_id`` to finish and return its result, decoded
        as ``type`` with ``codec`` (JSON by default). ``type=bytes`` without a codec returns
        the raw bytes; without a type, plain decoded JSON."""
        fetch = self._invocation_fetch(invocation_id, type or object, codec)
        return await fetch("attach")

    @overload
    async def get_invocation_output(
        self, invocation_id: str, *, type: type[T], codec: PayloadCodec | None = None
    ) -> T: ...
    @overload
    async def get_invocation_output(
        self, invocation_id: str, *, type: None = None, codec: PayloadCodec | None = None
    ) -> object: ...
    async def get_invocation_output(
        self, invocation_id: str, *, type: object = None, codec: PayloadCodec | None = None
    ) -> object:
        """The result of invocation ``invocation_id`` if it has finished (decoded as in
        :meth:`attach_invocation`); ``InvocationNotReadyError`` if it has not."""
        fetch = self._invocation_fetch(invocation_id, type or object, codec)
        return await fetch("output")

    async def attach_idempotent(
        self,
        handler: Callable[..., Awaitable[O]],
        idempotency_key: str,
        *,
        key: str | None = None,
        codec: PayloadCodec | None = None,
    ) -> O:
        """Wait for the invocation of ``handler`` made with ``idempotency_key`` (and, for
        objects, object ``key``) and return its result, typed by the handler."""
        return await self._idempotent_fetch(handler, idempotency_key, key, codec)("attach")

    async def get_idempotent_output(
        self,
        handler: Callable[..., Awaitable[O]],
        idempotency_key: str,
        *,
        key: str | None = None,
        codec: PayloadCodec | None = None,
    ) -> O:
        """The result of the invocation of ``handler`` made with ``idempotency_key`` if it
        has finished; ``InvocationNotReadyError`` if not."""
        return await self._idempotent_fetch(handler, idempotency_key, key, codec)("output")

    async def attach_workflow(
        self,
        handler: Callable[[S, WorkflowContext], Awaitable[O]]
        | Callable[[S, WorkflowContext, I], Awaitable[O]],
        key: str,
        *,
        codec: PayloadCodec | None = None,
    ) -> O:
        """Wait for the run of workflow ``key`` (its run handler given by reference) and
        return its result."""
        return await self.workflow_handle(handler, key, codec=codec).attach()

    async def get_workflow_output(
        self,
        handler: Callable[[S, WorkflowContext], Awaitable[O]]
        | Callable[[S, WorkflowContext, I], Awaitable[O]],
        key: str,
        *,
        codec: PayloadCodec | None = None,
    ) -> O:
        """The result of the run of workflow ``key`` if it has finished;
        ``InvocationNotReadyError`` if not."""
        return await self.workflow_handle(handler, key, codec=codec).output()

    # -- awakeables ---------------------------------------------------------------------------

    async def resolve_awakeable(
        self, awakeable_id: str, value: object, *, codec: PayloadCodec | None = None
    ) -> None:
        """Complete the awakeable ``awakeable_id`` with ``value`` (encoded with ``codec``,
        JSON by default: use the codec the awaiting handler decodes with)."""
        chosen = codec or DEFAULT_CODEC
        answer = await self._http.request(
            "POST",
            addressing.awakeable_path(awakeable_id, "resolve"),
            body=chosen.encode(value, type(value)),
            headers=content_type_header(chosen),
        )
        raise_for_answer(answer)

    async def reject_awakeable(self, awakeable_id: str, message: str) -> None:
        """Fail the awakeable ``awakeable_id``: the awaiting handler gets a ``TerminalError``
        with ``message`` (Restate gives it code 500)."""
        answer = await self._http.request(
            "POST",
            addressing.awakeable_path(awakeable_id, "reject"),
            body=message.encode(),
            headers={"content-type": "text/plain; charset=utf-8"},
        )
        raise_for_answer(answer)

    # -- internals ----------------------------------------------------------------------------

    async def _typed_call(
        self,
        handler: Callable[..., Awaitable[O]],
        key: str | None,
        arg: object,
        codec: PayloadCodec | None,
        idempotency_key: str | None,
        headers: Mapping[str, str] | None,
    ) -> O:
        target = resolve(handler, codec)
        body, content_headers = encode_argument(target, arg)
        answer = await self._http.request(
            "POST",
            addressing.call_path(target.service, target.handler, key),
            body=body,
            headers={**content_headers, **_options_headers(headers, idempotency_key)},
            retry_safe=idempotency_key is not None,
        )
        raise_for_answer(answer)
        return cast("O", output_decoder(target)(answer.body))

    async def _typed_send(
        self,
        handler: Callable[..., Awaitable[O]],
        key: str | None,
        arg: object,
        codec: PayloadCodec | None,
        delay: timedelta | None,
        idempotency_key: str | None,
        headers: Mapping[str, str] | None,
    ) -> InvocationHandle[O]:
        target = resolve(handler, codec)
        body, content_headers = encode_argument(target, arg)
        answer = await self._http.request(
            "POST",
            addressing.call_path(target.service, target.handler, key, send=True),
            body=body,
            headers={**content_headers, **_options_headers(headers, idempotency_key)},
            params=addressing.delay_query(delay),
            retry_safe=idempotency_key is not None,
        )
        invocation_id, status = _send_answer(answer)
        fetch = self._fetcher(
            lambda what: addressing.invocation_path(invocation_id, what), output_decoder(target)
        )
        return InvocationHandle(invocation_id, status, cast("Fetch[O]", fetch))

    def _raw_headers(
        self,
        content_type: str | None,
        headers: Mapping[str, str] | None,
        idempotency_key: str | None,
    ) -> dict[str, str]:
        base = {} if content_type is None else {"content-type": content_type}
        return {**base, **_options_headers(headers, idempotency_key)}

    def _fetcher(
        self, route: Callable[[AttachOrOutput], str], decode: Callable[[bytes], object]
    ) -> Fetch[object]:
        """Reads an attach or output route (GET, reads only: always safe to retry)."""

        async def fetch(what: AttachOrOutput) -> object:
            answer = await self._http.request("GET", route(what), retry_safe=True)
            raise_for_answer(answer, attach=True)
            return decode(answer.body)

        return fetch

    def _invocation_fetch(
        self, invocation_id: str, tp: object, codec: PayloadCodec | None = None
    ) -> Fetch[object]:
        chosen = codec or DEFAULT_CODEC

        def decode(data: bytes) -> object:
            # type=bytes without a codec: the raw result, whatever its content type.
            if tp is bytes and codec is None:
                return data
            return decode_as(chosen, data, tp)

        return self._fetcher(lambda what: addressing.invocation_path(invocation_id, what), decode)

    def _workflow_fetch(self, target: Target, key: str) -> Fetch[object]:
        return self._fetcher(
            lambda what: addressing.workflow_path(target.service, key, what),
            output_decoder(target),
        )

    def _idempotent_fetch(
        self,
        handler: Callable[..., Awaitable[O]],
        idempotency_key: str,
        key: str | None,
        codec: PayloadCodec | None,
    ) -> Fetch[O]:
        target = resolve(handler, codec)
        return cast(
            "Fetch[O]",
            self._fetcher(
                lambda what: addressing.idempotent_path(
                    target.service, target.handler, key, idempotency_key, what
                ),
                output_decoder(target),
            ),
        )

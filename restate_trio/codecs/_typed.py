"""The one type-conversion seam: typed values to plain data and back, and JSON Schema.

Every built-in codec converts typed values here and nowhere else. msgspec does the work
(``to_builtins``/``convert``/``json.schema``, always with ``order="deterministic"``);
pydantic models go through a pydantic ``TypeAdapter``. pydantic is never imported by this
module: a type or value can only involve a pydantic model when the program has imported
pydantic itself, so the module is looked up in :data:`sys.modules`.

Nothing here is public API; the codecs wrap every failure in :class:`CodecError`.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import types
import typing
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any, Final, Literal, cast

import msgspec
import orjson

from ._base import JsonSchema

__all__ = [
    "EncodeHook",
    "accepts_none",
    "complete_defaults",
    "convert",
    "involves_pydantic",
    "is_pydantic_model",
    "json_decoder",
    "json_schema",
    "pydantic_adapter",
    "pydantic_dump",
    "pydantic_error_message",
    "to_builtins",
    "type_name",
]

EncodeHook = Callable[[Any], Any]

# A marker the schema hook puts on `object` (msgspec rejects an empty schema from a hook);
# removed again before the schema is returned, leaving `{}` ("any value").
_ANY_MARKER: Final = "x-restate-trio-any"


def type_name(tp: object) -> str:
    """A short readable name for an annotation, for error messages.

    >>> type_name(dict[str, list[int]] | None)
    'dict[str, list[int]] | None'
    """
    if tp is None or tp is type(None):
        return "None"
    if tp is Any:
        return "Any"
    if tp is Ellipsis:
        return "..."
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(type_name(arg) for arg in args)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is Literal:
        return f"Literal[{', '.join(repr(arg) for arg in args)}]"
    if origin is not None and args:
        inner = ", ".join(
            f"[{', '.join(type_name(a) for a in cast('list[object]', arg))}]"
            if isinstance(arg, list)
            else type_name(arg)
            for arg in args
        )
        return f"{type_name(origin)}[{inner}]"
    name: object = getattr(tp, "__qualname__", None) or getattr(tp, "__name__", None)
    if isinstance(name, str):
        return name
    return repr(tp).replace("typing.", "")


def accepts_none(tp: object) -> bool:
    """Whether the annotation ``tp`` admits ``None``: ``object``, ``Any``, ``None``, ``X | None``.

    >>> accepts_none(int | None), accepts_none(int)
    (True, False)
    """
    if tp is object or tp is Any or tp is None or tp is type(None):
        return True
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return accepts_none(typing.get_args(tp)[0])
    if origin is typing.Union or origin is types.UnionType:
        return any(accepts_none(arg) for arg in typing.get_args(tp))
    if origin is Literal:
        return any(arg is None for arg in typing.get_args(tp))
    supertype: object = getattr(tp, "__supertype__", None)  # typing.NewType
    if supertype is not None:
        return accepts_none(supertype)
    alias_type: object = getattr(typing, "TypeAliasType", None)  # `type X = ...` (3.12+)
    if isinstance(alias_type, type) and isinstance(tp, alias_type):
        value: object = getattr(tp, "__value__", None)
        return accepts_none(value)
    return False


# --- msgspec ---------------------------------------------------------------------------------


def to_builtins(
    value: object,
    *,
    builtin_types: tuple[type, ...] = (),
    str_keys: bool = False,
    enc_hook: EncodeHook | None = None,
) -> object:
    """``value`` as plain data (dict, list, str, int, float, bool, None and ``builtin_types``).

    Dicts and sets come out sorted (``order="deterministic"``), so equal values give equal data
    whatever the insertion order or hash seed. Raises ``TypeError`` (unsupported type, keys or
    set items that cannot be ordered) or ``msgspec.ValidationError``.
    """
    return msgspec.to_builtins(
        value,
        builtin_types=builtin_types,
        str_keys=str_keys,
        enc_hook=enc_hook,
        order="deterministic",
    )


def convert(data: object, tp: object, *, builtin_types: tuple[type, ...] = ()) -> object:
    """Plain data to a value of ``tp`` (strict: ``"5"`` is not an ``int``).

    Raises ``msgspec.ValidationError`` when the data does not fit and ``TypeError`` when
    ``tp`` is not supported.
    """
    return msgspec.convert(data, cast("type[object]", tp), builtin_types=builtin_types)


def json_decoder(tp: object) -> msgspec.json.Decoder[Any]:
    """A (cached) msgspec JSON decoder for ``tp``; ``TypeError`` when ``tp`` is unsupported."""
    if _hashable(tp):
        return _cached_json_decoder(tp)
    return msgspec.json.Decoder(cast("type[object]", tp))


@functools.lru_cache(maxsize=512)
def _cached_json_decoder(tp: Hashable) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(cast("type[object]", tp))


def json_schema(tp: object) -> JsonSchema | None:
    """A self-contained JSON Schema for ``tp`` (local ``#/$defs/…`` references only), or None.

    None for ``object`` and ``Any`` (no constraint, so no schema) and for types without one;
    inside other types they are ``{}`` (any value). Types that involve a pydantic model get
    pydantic's (validation) schema; other types msgspec's.
    """
    if tp is object or tp is Any:
        return None
    if involves_pydantic(tp):
        try:
            schema = cast("dict[str, object]", pydantic_adapter(tp).json_schema())
        except Exception:
            return None
        return schema if refs_are_local(schema) else None
    try:
        schema = msgspec.json.schema(cast("type[object]", tp), schema_hook=_schema_hook)
    except (TypeError, ValueError, NameError):
        return None
    return cast("JsonSchema", _strip_marker(schema))


def _schema_hook(tp: type) -> dict[str, Any]:
    if tp is object:
        return {_ANY_MARKER: True}
    raise NotImplementedError


def _strip_marker(value: object) -> object:
    if isinstance(value, dict):
        items = cast("dict[str, object]", value).items()
        return {key: _strip_marker(item) for key, item in items if key != _ANY_MARKER}
    if isinstance(value, list):
        return [_strip_marker(item) for item in cast("list[object]", value)]
    return value


def refs_are_local(value: object) -> bool:
    if isinstance(value, dict):
        for key, item in cast("dict[str, object]", value).items():
            if key == "$ref" and not (isinstance(item, str) and item.startswith("#")):
                return False
            if not refs_are_local(item):
                return False
    elif isinstance(value, list):
        return all(refs_are_local(item) for item in cast("list[object]", value))
    return True


def _hashable(tp: object) -> bool:
    try:
        hash(tp)
    except TypeError:
        return False
    return True


# --- dataclasses -----------------------------------------------------------------------------
#
# msgspec (and orjson) encode a dataclass instance from its ``__dict__``, but msgspec decodes
# one without storing the fields left at a plain default (``y: int = 0``): the class attribute
# answers for them. ``Point(7)`` and a decoded ``{"x": 7}`` are equal yet would encode
# differently. The codecs therefore complete the instances they decode
# (:func:`complete_defaults`).


def _dataclass_names(cls: type) -> tuple[str, ...] | None:
    return _cached_dataclass_names(cast("Hashable", cls))


@functools.lru_cache(maxsize=1024)
def _cached_dataclass_names(cls: Any) -> tuple[str, ...] | None:
    fields: object = getattr(cls, "__dataclass_fields__", None)
    if not isinstance(fields, dict):
        return None
    return tuple(field.name for field in dataclasses.fields(cls))


def _plain_defaults(cls: type) -> tuple[tuple[str, object], ...]:
    """The (name, default) pairs of a dataclass's fields that have a plain default."""
    return _cached_plain_defaults(cast("Hashable", cls))


@functools.lru_cache(maxsize=1024)
def _cached_plain_defaults(cls: Any) -> tuple[tuple[str, object], ...]:
    if getattr(cls, "__dictoffset__", 0) == 0:  # slots: msgspec sets every field
        return ()
    return tuple(
        (field.name, field.default)
        for field in dataclasses.fields(cls)
        if field.default is not dataclasses.MISSING
    )


def _has_plain_defaults(cls: type) -> bool:
    return getattr(cls, "__dataclass_fields__", None) is not None and bool(_plain_defaults(cls))


def complete_defaults(value: object, tp: object) -> None:
    """Store the plain defaults of every dataclass instance in ``value``, declared as ``tp``.

    Called on decoded values and on values about to be encoded (instances decoded by msgspec
    elsewhere). A no-op (no walk) unless ``tp`` (the value's class when ``tp`` is ``object`` or
    ``Any``) involves a dataclass with plain defaults. Invisible to the program: the stored
    values are the class attributes that answered before.
    """
    if tp is object or tp is Any:
        tp = type(value)
    completer: _Completer | None
    try:
        scalar = tp in _SCALARS  # hashes tp: the one test of whether it can key a cache
    except TypeError:  # an unhashable annotation
        completer = _complete if _mentions(tp, _has_plain_defaults, set()) else None
    else:
        if scalar:  # most payloads: no lookup (two per ctx.run step, profiled on steps10)
            return
        completer = _cached_completer(tp)
    if completer is not None:
        completer(value)


_Completer = Callable[[object], None]

# Types whose values hold no dataclass (a hash of a class is its identity: cheap, never fails).
_SCALARS: frozenset[object] = frozenset({int, str, float, bool, bytes, type(None)})


@functools.lru_cache(maxsize=512)
def _cached_completer(tp: Hashable) -> _Completer | None:
    if not _mentions(tp, _has_plain_defaults, set()):
        return None
    return _completer(tp, set())


def _completer(tp: object, building: set[int]) -> _Completer | None:
    """A function completing values declared as ``tp``, guided by the type so that it visits
    only the parts that can hold dataclasses with plain defaults (the generic walk visits all).

    Falls back to the generic walk where the type does not say enough (unions, ``object``,
    recursive types, subclass instances).
    """
    if not _mentions(tp, _has_plain_defaults, set()):
        return None
    if id(tp) in building:
        return _complete  # a recursive type
    building = building | {id(tp)}
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _completer(args[0], building)
    if origin in (list, set, frozenset) or (origin is tuple and len(args) == 2 and args[1] is ...):
        item = _completer(args[0], building)
        if item is None:
            return None
        return lambda value: _each(value, item)
    if origin is dict:
        entry = _completer(args[1], building) if len(args) == 2 else None
        if entry is None or (len(args) == 2 and _completer(args[0], building) is not None):
            return _complete
        return lambda value: _each_value(value, entry)
    if isinstance(tp, type) and getattr(tp, "__dataclass_fields__", None) is not None:
        return _dataclass_completer(tp, building)
    return _complete


def _each(items: object, completer: _Completer) -> None:
    if isinstance(items, list | tuple | set | frozenset):
        for item in cast("list[object]", items):
            completer(item)
    else:
        _complete(items)  # not the declared container: walk it generically


def _each_value(mapping: object, completer: _Completer) -> None:
    if isinstance(mapping, dict):
        for item in cast("dict[object, object]", mapping).values():
            completer(item)
    else:
        _complete(mapping)


def _dataclass_completer(cls: type, building: set[int]) -> _Completer:
    defaults = _plain_defaults(cls)
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception:
        return _complete
    nested = tuple(
        (name, completer)
        for name in _dataclass_names(cls) or ()
        if (completer := _completer(hints.get(name, object), building)) is not None
    )

    def complete(value: object) -> None:
        if type(value) is not cls:
            _complete(value)  # a subclass (or another type): its fields are not all known
            return
        attributes: dict[str, object] | None = getattr(value, "__dict__", None)
        if attributes is not None:
            for name, default in defaults:
                attributes.setdefault(name, default)
        for name, completer in nested:
            completer(getattr(value, name))

    return complete


_LEAVES: Final = frozenset({str, int, float, bool, bytes, bytearray, type(None)})


def _complete(value: object) -> None:
    stack: list[object] = [value]
    seen: set[int] = set()  # values to encode may share objects or even be cyclic
    while stack:
        item = stack.pop()
        cls = type(item)
        if cls in _LEAVES or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            mapping = cast("dict[object, object]", item)
            stack.extend(mapping)
            stack.extend(mapping.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(cast("list[object]", item))
        elif (names := _dataclass_names(cls)) is not None:
            attributes: dict[str, object] | None = getattr(item, "__dict__", None)
            if attributes is not None:
                for name, default in _plain_defaults(cls):
                    attributes.setdefault(name, default)
            stack.extend(getattr(item, name) for name in names)
        else:
            struct_fields: tuple[str, ...] | None = getattr(cls, "__struct_fields__", None)
            if struct_fields is not None:
                stack.extend(getattr(item, name) for name in struct_fields)


# --- pydantic (only when the program imported it) --------------------------------------------


def _base_model() -> type | None:
    pydantic = sys.modules.get("pydantic")
    base: object = getattr(pydantic, "BaseModel", None) if pydantic is not None else None
    return base if isinstance(base, type) else None


def is_pydantic_model(value: object) -> bool:
    """Whether ``value`` is a pydantic (v2) model instance."""
    base = _base_model()
    return base is not None and isinstance(value, base)


def involves_pydantic(tp: object) -> bool:
    """Whether the annotation ``tp`` mentions a pydantic model anywhere.

    Looks through type arguments (``list[M]``, ``M | None``, ``Annotated[M, …]``) and the
    fields of dataclasses, TypedDicts, NamedTuples and Structs. Such types are converted by
    pydantic as a whole; everything else by msgspec.
    """
    base = _base_model()
    if base is None:
        return False
    if _hashable(tp):
        return _cached_involves_pydantic(tp, base)
    return _mentions(tp, functools.partial(_is_subclass, base=base), set())


@functools.lru_cache(maxsize=512)
def _cached_involves_pydantic(tp: Hashable, base: type) -> bool:
    return _mentions(tp, functools.partial(_is_subclass, base=base), set())


def _is_subclass(cls: type, *, base: type) -> bool:
    return issubclass(cls, base)


def _mentions(tp: object, predicate: Callable[[type], bool], seen: set[int]) -> bool:
    """Whether ``predicate`` holds for a class in ``tp``, its type arguments or fields."""
    if id(tp) in seen:
        return False
    seen.add(id(tp))
    if isinstance(tp, type):
        if predicate(tp):
            return True
        if _has_field_hints(tp):
            return any(_mentions(hint, predicate, seen) for hint in _field_hints(tp))
    return any(_mentions(arg, predicate, seen) for arg in typing.get_args(tp))


def _has_field_hints(cls: type) -> bool:
    """Whether ``cls`` has annotated fields: dataclass, TypedDict, NamedTuple or Struct."""
    if getattr(cls, "__dataclass_fields__", None) is not None or typing.is_typeddict(cls):
        return True
    if getattr(cls, "__struct_fields__", None) is not None:
        return True
    return getattr(cls, "_fields", None) is not None and issubclass(cls, tuple)


def _field_hints(cls: type) -> Iterator[object]:
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception:  # unresolvable forward references: let the converter report them
        return iter(())
    return iter(hints.values())


def pydantic_adapter(tp: object) -> Any:
    """A (cached) pydantic ``TypeAdapter`` for ``tp``; pydantic must already be imported."""
    if _hashable(tp):
        return _cached_adapter(tp)
    return _new_adapter(tp)


@functools.lru_cache(maxsize=256)
def _cached_adapter(tp: Hashable) -> Any:
    return _new_adapter(tp)


def _new_adapter(tp: object) -> Any:
    pydantic: Any = sys.modules["pydantic"]
    return pydantic.TypeAdapter(tp)


def pydantic_dump(value: object, *, mode: Literal["json", "python"]) -> object:
    """A pydantic model instance as plain data, by alias so that validation reads it back.

    ``mode="json"`` follows pydantic's JSON rules; pydantic writes set fields in iteration
    order, so those lists are sorted here (by their items' canonical JSON) to keep the output
    independent of the hash seed. ``mode="python"`` keeps sets, bytes, datetimes… for the
    caller's own conversion.
    """
    adapter = pydantic_adapter(type(value))
    data: object = adapter.dump_python(value, mode=mode, by_alias=True)
    if mode == "json" and _has_sets(cast("Hashable", type(value))):
        python: object = adapter.dump_python(value, mode="python", by_alias=True)
        data = _sort_set_lists(python, data)
    return data


def pydantic_error_message(exc: ValueError) -> str:
    """A one-line message for a pydantic ``ValidationError``, in msgspec's style.

    ``Field required - at `$.name`; Input should be a valid integer - at `$.items[0]```;
    the offending input values are left out. Other errors: their text.
    """
    errors: object = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    try:
        details = cast("list[dict[str, Any]]", errors(include_url=False, include_input=False))
    except TypeError:  # not pydantic's ValidationError after all
        return str(exc)
    parts: list[str] = []
    for detail in details:
        path = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in detail.get("loc", ())
        )
        parts.append(f"{detail.get('msg', 'invalid')} - at `${path}`")
    return "; ".join(parts) if parts else str(exc)


@functools.lru_cache(maxsize=256)
def _has_sets(model: Hashable) -> bool:
    core_schema: object = getattr(pydantic_adapter(model), "core_schema", None)
    return _mentions_set(core_schema)


def _mentions_set(value: object) -> bool:
    if isinstance(value, Mapping):
        mapping = cast("Mapping[object, object]", value)
        if mapping.get("type") in ("set", "frozenset"):
            return True
        return any(_mentions_set(item) for item in mapping.values())
    if isinstance(value, list | tuple):
        return any(_mentions_set(item) for item in cast("list[object]", value))
    return False


def _sort_set_lists(python: object, data: object) -> object:
    """``data`` (json-mode dump) with the lists that were sets in ``python`` sorted."""
    if not isinstance(data, dict | list):
        return data
    if isinstance(data, list):
        js_list = cast("list[object]", data)
        if isinstance(python, set | frozenset):
            if len(js_list) != len(cast("set[object]", python)):
                return js_list
            return sorted(js_list, key=_canonical_json)
        if not isinstance(python, list | tuple):
            return js_list
        py_list = cast("list[object]", python)
        if len(py_list) != len(js_list):
            return js_list
        return [_sort_set_lists(p, j) for p, j in zip(py_list, js_list, strict=True)]
    js_items = cast("dict[str, object]", data)
    if not isinstance(python, dict):
        return js_items
    py_items = cast("dict[object, object]", python)
    if len(py_items) != len(js_items):
        return js_items
    return {
        key: _sort_set_lists(py_value, js_value)
        for py_value, (key, js_value) in zip(py_items.values(), js_items.items(), strict=True)
    }


def _canonical_json(item: object) -> bytes:
    return orjson.dumps(item, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)

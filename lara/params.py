"""Component parameters: what a task, runner, backend or scorer declares, checked before any call.

A component declares its parameters in its constructor's signature (``__init__`` of a registered
class, or a registered factory function); one that forwards ``**kwargs`` declares the rest in a
class attribute ``EXTRA_PARAMS`` (name -> type), or inherits its base class's constructor
parameters. CLI values (``-T/-R/-M/-S key=value``) arrive as text and are converted here by the
declared type, so ``-M answer=[BEGIN]`` stays text while ``-R k=5`` becomes 5 and
``-T lengths=2000,4000`` a list. An unknown key, or a value that does not convert, is a
:class:`~lara.errors.ConfigError` naming the component, the key and the valid keys.
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any, Callable, Mapping, Union

from lara.errors import ConfigError
from lara.vocabulary import did_you_mean

# Injected by lara, never set by users.
INJECTED = {"limits", "self"}
_NULL = {"null", "~", "None", "none"}
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to converting as YAML
        return {}


def declared_params(factory: Any) -> tuple[dict[str, Any], bool]:
    """(name -> type or Any, open): ``open`` when the factory takes ``**kwargs`` that nothing declares
    (then unknown keys cannot be rejected here; the component checks them itself)."""
    out: dict[str, Any] = {}
    open_ = False
    chain = [c for c in inspect.getmro(factory) if c is not object] if inspect.isclass(factory) else [factory]
    for obj in chain:
        fn = obj.__init__ if inspect.isclass(obj) else obj
        if inspect.isclass(obj) and "__init__" not in vars(obj):
            continue
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            return out, True
        hints = _hints(fn)
        var_kw = False
        for name, p in sig.parameters.items():
            if p.kind is p.VAR_KEYWORD:
                var_kw = True
            elif p.kind is not p.VAR_POSITIONAL and name not in INJECTED:
                out.setdefault(name, hints.get(name, Any))
        extra = getattr(obj, "EXTRA_PARAMS", None)
        if extra:
            for name, typ in dict(extra).items():
                out.setdefault(name, typ)
        if not var_kw or extra:
            return out, False
        open_ = True  # keep walking the MRO: a base class may declare what **kwargs takes
    return out, open_


def check_params(kind: str, name: str, factory: Any, params: Mapping[str, Any], *,
                 convert: bool = False, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """``params`` checked against the factory's declared parameters; with ``convert``, text values
    are converted to the declared types. Raises ConfigError on an unknown key or a bad value."""
    declared, open_ = declared_params(factory)
    for key in exclude:
        declared.pop(key, None)
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key not in declared:
            if open_:
                out[key] = parse_text(value) if convert and isinstance(value, str) else value
                continue
            valid = ", ".join(sorted(declared)) or "(none)"
            raise ConfigError(
                f"{kind} {name!r} has no parameter {key!r}{did_you_mean(key, declared)}; valid: {valid}"
            )
        if not convert or not isinstance(value, str):
            out[key] = value
            continue
        try:
            out[key] = convert_text(value, declared[key])
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{kind} {name!r}: parameter {key}={value!r}: {exc}") from None
    return out


def parse_text(text: str) -> Any:
    """A value of undeclared type: a YAML scalar/list/mapping (no aliases, as presets), or the text
    itself if not YAML."""
    from lara.config import PresetError, load_yaml

    try:
        return load_yaml(text, "command-line value")
    except PresetError as exc:
        if "alias" in str(exc) or "characters of YAML" in str(exc):
            raise ConfigError(str(exc)) from None
        return text


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        return (args[0] if len(args) == 1 else Union[tuple(args)]), optional  # type: ignore[return-value]
    return tp, False


def convert_text(text: str, tp: Any) -> Any:
    """Convert one CLI text value to ``tp`` (str, int, float, bool, lists/tuples, mappings, unions)."""
    tp, optional = _strip_optional(tp)
    if optional and text.strip() in _NULL:
        return None
    if tp is Any or tp is None:
        return parse_text(text)
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        errors = []
        for arg in typing.get_args(tp):  # e.g. int | str: the first that converts wins
            try:
                return convert_text(text, arg)
            except (ValueError, TypeError) as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(dict.fromkeys(errors)))
    if tp is str:
        return text
    if tp is bool:
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError("expected true or false")
    if tp is int:
        try:
            return int(text.strip())
        except ValueError:
            raise ValueError("expected an integer") from None
    if tp is float:
        try:
            return float(text.strip())
        except ValueError:
            raise ValueError("expected a number") from None
    seq_origin = origin or tp
    if seq_origin in (list, tuple, typing.Sequence, typing.Iterable) or _is_abc(seq_origin, "Sequence"):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        item = args[0] if args else Any
        raw = text.strip()
        parsed = parse_text(raw) if raw.startswith("[") else [p.strip() for p in raw.split(",") if p.strip()]
        if not isinstance(parsed, list):
            raise ValueError("expected a list (a,b,c or [a, b, c])")
        return [convert_text(p, item) if isinstance(p, str) else p for p in parsed]
    if seq_origin in (dict, typing.Mapping) or _is_abc(seq_origin, "Mapping"):
        parsed = parse_text(text)
        if not isinstance(parsed, dict):
            raise ValueError("expected a mapping ({key: value})")
        return parsed
    return parse_text(text)


def _is_abc(obj: Any, name: str) -> bool:
    import collections.abc as abc

    base = getattr(abc, name)
    return isinstance(obj, type) and issubclass(obj, base)


def instantiate(kind: str, name: str, factory: Callable[..., Any], params: Mapping[str, Any], **injected: Any) -> Any:
    """Build a component; its own ValueError/TypeError (a bad value it checked) becomes a ConfigError
    naming it, so the CLI prints one line before any model call."""
    try:
        return factory(**injected, **params)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        if isinstance(exc, OSError):
            raise
        raise ConfigError(f"{kind} {name!r}: {exc}") from exc

"""Typed decorator registries with lazy discovery.

``@runners.register("long_context")`` on a class or factory records it. Nothing is imported at
``import lara``: the first lookup in a registry imports every module of its subpackage
(``lara.runners``, ``lara.tasks``...), whose top level must stay light (heavy dependencies are
imported inside the functions that need them). Entries can also be given as ``"module:attr"``
strings, imported only when that name is looked up. A name registered twice for two different
objects is an error (it used to overwrite silently); registering the same object again, as a
re-imported module does, is not. Code outside the subpackage (a plug-in, a test module) registers
the same way: the decorator runs when its module is imported.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar, cast

from lara.errors import ConfigError
from lara.vocabulary import did_you_mean

if TYPE_CHECKING:  # the protocols of what each registry builds (no import at run time)
    from lara.protocols import Backend, Retriever, Runner, Scorer, Task

T = TypeVar("T")
F = TypeVar("F")


class UnknownNameError(ConfigError, KeyError):
    """An unknown registry name; the message lists the valid names (KeyError for old callers)."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0])


class DuplicateNameError(ConfigError):
    """Two different objects registered under one name."""


def _same(a: Any, b: Any) -> bool:
    """Identity, or the same definition re-executed (module imported twice under one name)."""
    if a is b:
        return True
    qa = (getattr(a, "__module__", None), getattr(a, "__qualname__", None))
    return qa[1] is not None and qa == (getattr(b, "__module__", None), getattr(b, "__qualname__", None))


class Registry(Generic[T]):
    """Name -> factory of ``T`` (a class whose instances are ``T``, or a function returning one)."""

    def __init__(self, kind: str, package: str) -> None:
        self.kind = kind
        self.package = package
        self._entries: dict[str, Any] = {}
        self._aliases: dict[str, str] = {}
        self._discovered = False

    def register(self, name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[F], F]:
        def deco(obj: F) -> F:
            self._add(name, obj)
            for alias in aliases:
                if alias in self._aliases and self._aliases[alias] != name:
                    raise DuplicateNameError(
                        f"{self.kind} alias {alias!r} already names {self._aliases[alias]!r}; cannot also name {name!r}"
                    )
                self._aliases[alias] = name
            return obj

        return deco

    def _add(self, name: str, obj: Any) -> None:
        old = self._entries.get(name)
        if old is not None and not isinstance(old, str) and not _same(old, obj):
            where = f"{getattr(old, '__module__', '?')}.{getattr(old, '__qualname__', old)}"
            raise DuplicateNameError(f"{self.kind} {name!r} is already registered by {where}")
        self._entries[name] = obj

    def add_lazy(self, name: str, target: str) -> None:
        """Register ``"module:attr"`` to import on first lookup."""
        self._entries.setdefault(name, target)

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        pkg = importlib.import_module(self.package)
        for mod in pkgutil.iter_modules(pkg.__path__):
            if not mod.name.startswith("_"):
                importlib.import_module(f"{self.package}.{mod.name}")

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._entries)

    def canonical(self, name: str) -> str:
        """The registered name behind an alias (``lc`` -> ``long_context``)."""
        self._discover()
        return self._aliases.get(name, name)

    def __contains__(self, name: object) -> bool:
        self._discover()
        return isinstance(name, str) and (name in self._entries or name in self._aliases)

    def get(self, name: str) -> Callable[..., T]:
        self._discover()
        name = self._aliases.get(name, name)
        if name not in self._entries:
            valid = ", ".join(self.names())
            raise UnknownNameError(f"unknown {self.kind} {name!r}{did_you_mean(name, self.names())}; valid: {valid}")
        obj = self._entries[name]
        if isinstance(obj, str):
            module, _, attr = obj.partition(":")
            obj = getattr(importlib.import_module(module), attr)
            self._entries[name] = obj
        return cast(Callable[..., T], obj)

    def describe(self) -> list[tuple[str, str]]:
        """(name, first docstring line) for listings such as ``lara runners``."""
        out = []
        for name in self.names():
            obj = self.get(name)
            doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
            out.append((name, doc[0] if doc else ""))
        return out


tasks: Registry[Task] = Registry("task", "lara.tasks")
runners: Registry[Runner] = Registry("runner", "lara.runners")
retrievers: Registry[Retriever] = Registry("retriever", "lara.retrievers")
backends: Registry[Backend] = Registry("backend", "lara.backends")
scorers: Registry[Scorer] = Registry("scorer", "lara.scoring")

"""Decorator registries with lazy discovery.

``@runners.register("long_context")`` on a class or factory records it. Nothing is imported at
``import lara``: the first lookup in a registry imports every module of its subpackage
(``lara.runners``, ``lara.tasks``...), whose top level must stay light (heavy dependencies are
imported inside the functions that need them). Entries can also be given as ``"module:attr"``
strings, which are imported only when that name is looked up.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for an unknown registry name; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0])


class Registry:
    def __init__(self, kind: str, package: str) -> None:
        self.kind = kind
        self.package = package
        self._entries: dict[str, Any] = {}
        self._aliases: dict[str, str] = {}
        self._discovered = False

    def register(self, name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            self._entries[name] = obj
            for alias in aliases:
                self._aliases[alias] = name
            return obj

        return deco

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

    def get(self, name: str) -> Any:
        self._discover()
        name = self._aliases.get(name, name)
        if name not in self._entries:
            valid = ", ".join(self.names())
            raise UnknownNameError(f"unknown {self.kind} {name!r}; valid: {valid}")
        obj = self._entries[name]
        if isinstance(obj, str):
            module, _, attr = obj.partition(":")
            obj = getattr(importlib.import_module(module), attr)
            self._entries[name] = obj
        return obj

    def describe(self) -> list[tuple[str, str]]:
        """(name, first docstring line) for listings such as ``lara runners``."""
        out = []
        for name in self.names():
            obj = self.get(name)
            doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
            out.append((name, doc[0] if doc else ""))
        return out


tasks = Registry("task", "lara.tasks")
runners = Registry("runner", "lara.runners")
retrievers = Registry("retriever", "lara.retrievers")
backends = Registry("backend", "lara.backends")
scorers = Registry("scorer", "lara.scoring")

"""Typed registries: lazy discovery, did-you-mean, duplicates refused, re-imports tolerated."""

from __future__ import annotations

import pytest

from lara.errors import ConfigError
from lara.registry import DuplicateNameError, Registry, UnknownNameError, runners


def test_duplicate_names_raise_and_same_object_is_fine() -> None:
    reg: Registry[object] = Registry("widget", "lara.commands")

    @reg.register("a", aliases=("alpha",))
    class A:
        """first"""

    reg.register("a")(A)  # the same class again (a module imported twice): fine
    with pytest.raises(DuplicateNameError, match="already registered"):

        @reg.register("a")
        class Other:
            pass

    with pytest.raises(DuplicateNameError, match="alias 'alpha'"):
        reg.register("b", aliases=("alpha",))(object)
    assert reg.get("alpha") is A and reg.canonical("alpha") == "a"


def test_unknown_name_is_a_config_error_with_suggestion() -> None:
    with pytest.raises(UnknownNameError) as err:
        runners.get("long_contxt")
    assert isinstance(err.value, ConfigError) and isinstance(err.value, KeyError)
    assert "did you mean 'long_context'" in str(err.value) and "valid:" in str(err.value)


def test_every_runner_declares_its_metadata() -> None:
    from lara.vocabulary import STRATEGIES

    for name in runners.names():
        cls = runners.get(name)
        assert cls.strategy in STRATEGIES, name  # type: ignore[attr-defined]
        assert isinstance(cls.whole_documents, bool), name  # type: ignore[attr-defined]
        assert isinstance(cls.cost_params, tuple), name  # type: ignore[attr-defined]

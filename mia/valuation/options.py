"""Declared, checked estimator options.

Every estimator is a dataclass whose fields are its options. :func:`option` attaches a range to a field;
:class:`CheckedOptions` checks every field's type (from its annotation) and range when the estimator is
built, and :func:`reject_unknown` refuses names the estimator does not declare -- so a misspelled
``max_permutation=7`` is an error naming the valid options, never a silent run with the default.
"""

from __future__ import annotations

import dataclasses
import difflib
import numbers
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

__all__ = ["CheckedOptions", "EstimatorOptionError", "check_options", "option", "option_names", "reject_unknown"]

_RANGE = "mia.valuation.option.range"


class EstimatorOptionError(ValueError):
    """An estimator option that is not declared, has the wrong type, or is out of range; one line."""


def option(default: Any, *, ge: float | None = None, gt: float | None = None) -> Any:
    """A dataclass field with a default and an inclusive (``ge``) or strict (``gt``) lower bound.

    ``None`` always passes the bound; whether ``None`` is allowed at all is the annotation's business.
    """
    return dataclasses.field(default=default, metadata={_RANGE: (ge, gt)})


def option_names(cls: type) -> tuple[str, ...]:
    """The options ``cls`` declares, sorted."""
    return tuple(sorted(f.name for f in dataclasses.fields(cls)))


def reject_unknown(cls: type, options: Mapping[str, Any]) -> None:
    """Raise :class:`EstimatorOptionError` for the first name in ``options`` that ``cls`` does not declare."""
    valid = option_names(cls)
    for key in options:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise EstimatorOptionError(
                f"unknown option {key} for {_label(cls)}{hint}; valid: {', '.join(valid) or 'none'}"
            )


def check_options(obj: Any) -> None:
    """Check every field of the dataclass instance ``obj`` against its annotation and declared bound."""
    cls = type(obj)
    hints = _hints(cls)
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        hint = hints.get(f.name, Any)
        if not _conforms(value, hint):
            raise EstimatorOptionError(f"option {f.name} for {_label(cls)} must be {_describe(hint)}, got {value!r}")
        ge, gt = f.metadata.get(_RANGE, (None, None))
        if value is None or isinstance(value, bool):
            continue
        bound = f">= {ge:g}" if ge is not None and not value >= ge else None
        bound = f"> {gt:g}" if gt is not None and not value > gt else bound
        if bound is not None:
            or_none = " or None" if _conforms(None, hint) else ""
            raise EstimatorOptionError(f"option {f.name} for {_label(cls)} must be {bound}{or_none}, got {value!r}")


class CheckedOptions:
    """Mixin for estimator dataclasses: options are checked as the estimator is built."""

    def __post_init__(self) -> None:
        check_options(self)


def _label(cls: type) -> str:
    return str(getattr(cls, "name", cls.__name__))


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _conforms(value: Any, hint: Any) -> bool:
    """Whether ``value`` has the annotated type (int for float is fine; bool is never a number)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if hint is type(None) or hint is None:
        return value is None
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in typing.get_args(hint))
    if origin is Union or origin is types.UnionType:
        return any(_conforms(value, a) for a in typing.get_args(hint))
    if hint is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if hint is int:
        return isinstance(value, numbers.Integral)
    if hint is float:
        return isinstance(value, numbers.Real)
    return isinstance(value, origin or hint)


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if hint is type(None) or hint is None:
        return "None"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin is Union or origin is types.UnionType:
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))

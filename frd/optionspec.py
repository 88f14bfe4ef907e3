"""How an option is declared once, for every surface: its kind, bounds and help text.

Each field of :class:`frd.options.FRDOptions` carries a :class:`Spec` (attached with
:func:`option`). The library checks values with it (:func:`check`), the command line makes
its flags from it (:func:`frd.cli.add_option_flags`) and the service its request schema
(``api.schemas.Options``), so that a new option is one declaration and the three surfaces
accept the same values within the same bounds. The bounds are also what keeps a request
to the service from asking for unbounded work (a resize to 100,000², a thousand LoG sigmas).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import OptionError

# kind → what a value is
KINDS = {
    "choice": "one of ``choices``",
    "names": "a list of distinct names among ``choices``",
    "number": "a finite number within the bounds",
    "numbers": "a list of 1 to ``max_items`` finite numbers within the bounds",
    "integer": "a whole number within the bounds",
    "size": "two whole numbers (width, height) within the bounds; N alone means N × N on the command line",
    "range": "two finite numbers LO < HI",
    "flag": "true or false",
    "share": "a number from 0 to 1 (on the command line also as a percentage, 20%)",
    "path": "a file of this machine (not offered by the service)",
}


@dataclass(frozen=True)
class Spec:
    """What values one option takes, and how each surface presents it."""

    kind: str
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    exclusive_minimum: bool = False  # minimum itself is not allowed
    maximum: float | None = None
    max_items: int | None = None
    may_be_empty: bool = False  # names: an empty list is a value (exclude nothing)
    nullable: bool = True  # None means "the version's default"
    flags: tuple[str, ...] = ()  # command-line spellings; default --field-name
    metavar: str | tuple[str, ...] | None = None
    group: str = "definition"  # command-line group: "definition" or "running"
    service: bool = True  # offered by the REST service
    setting: str | None = None  # the pyradiomics setting it overrides (e.g. "binWidth")
    statistics: bool = True  # shapes reference statistics (a .frdstats file must have been made with it)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown option kind {self.kind!r}")

    def bounds_text(self) -> str:
        """The bounds in words, for help texts and messages ("> 0 and ≤ 100")."""
        parts = []
        if self.minimum is not None:
            parts.append(f"{'>' if self.exclusive_minimum else '≥'} {_number(self.minimum)}")
        if self.maximum is not None:
            parts.append(f"≤ {_number(self.maximum)}")
        return " and ".join(parts)


def describe(spec: Spec) -> str:
    """What values the option takes, in words (help texts, messages, the API schema)."""
    text = (
        KINDS[spec.kind].replace("``choices``", ", ".join(spec.choices)).replace("``max_items``", str(spec.max_items))
    )
    bounds = spec.bounds_text()
    return text.replace("within the bounds", f"({bounds})" if bounds else "").replace("  ", " ").strip()


def option(default, **spec) -> Any:
    """A dataclass field with its :class:`Spec` (keyword arguments of Spec); typed as the
    value it holds, as ``dataclasses.field`` is."""
    return field(default=default, metadata={"spec": Spec(**spec)})


def specs(cls) -> dict[str, Spec]:
    """Every declared option of a dataclass, by field name, in declaration order."""
    return {f.name: f.metadata["spec"] for f in fields(cls) if "spec" in f.metadata}


def defaults(cls) -> dict:
    """The declared default of every option."""
    return {f.name: f.default for f in fields(cls) if "spec" in f.metadata}


def check(name: str, spec: Spec, value):
    """``value`` as stored (lists become tuples), or :class:`~frd.errors.OptionError`."""
    if value is None:
        if spec.nullable:
            return None
        raise OptionError(name, f"needs a value: {describe(spec)}")
    kind = spec.kind
    if kind == "choice":
        if not isinstance(value, str) or value not in spec.choices:
            raise OptionError(name, f"must be one of {', '.join(spec.choices)}, not {value!r}")
        return value
    if kind == "names":
        values = _sequence(name, value, f"a list of names among {', '.join(spec.choices)}")
        if not values and not spec.may_be_empty:
            raise OptionError(name, f"needs at least one of {', '.join(spec.choices)}")
        bad = [v for v in values if v not in spec.choices]
        if bad:
            raise OptionError(name, f"takes names among {', '.join(spec.choices)}, not {', '.join(map(repr, bad))}")
        if len(set(values)) != len(values):
            raise OptionError(name, f"names each of {', '.join(spec.choices)} at most once, not {list(values)!r}")
        return values
    if kind == "numbers":
        values = _sequence(name, value, "numbers")
        if not values or (spec.max_items is not None and len(values) > spec.max_items):
            raise OptionError(name, f"takes 1 to {spec.max_items} numbers, not {len(values)}")
        for v in values:
            _bounded(name, spec, v)
        return values
    if kind in ("number", "share"):
        return _bounded(name, spec, value)
    if kind == "integer":
        if not _is_int(value):
            raise OptionError(name, f"must be a whole number, not {value!r}")
        return _bounded(name, spec, value)
    if kind == "size":
        values = _sequence(name, value, "two whole numbers (width, height)")
        if len(values) != 2 or not all(_is_int(v) for v in values):
            raise OptionError(name, f"takes two whole numbers (width, height), not {list(values)!r}")
        for v in values:
            _bounded(name, spec, v)
        return values
    if kind == "range":
        values = _sequence(name, value, "two numbers LO < HI")
        if len(values) != 2 or not all(_is_number(v) and math.isfinite(v) for v in values) or not values[0] < values[1]:
            raise OptionError(name, f"takes two numbers LO < HI, not {list(values)!r}")
        return values
    if kind == "flag":
        if not isinstance(value, bool):
            raise OptionError(name, f"must be true or false, not {value!r}")
        return value
    if kind == "path":
        if not isinstance(value, str) or not value:
            raise OptionError(name, f"must be a file path, not {value!r}")
        return value
    raise AssertionError(kind)


def _sequence(name: str, value, what: str) -> tuple:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise OptionError(name, f"takes {what}, not {value!r}")
    return tuple(value)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bounded(name: str, spec: Spec, value):
    if not _is_number(value) or not math.isfinite(value):
        raise OptionError(name, f"takes a finite number, not {value!r}")
    low = spec.minimum
    if low is not None and not (value > low if spec.exclusive_minimum else value >= low):
        word = "greater than" if spec.exclusive_minimum else "at least"
        raise OptionError(name, f"must be {word} {_number(low)}, not {value!r}")
    if spec.maximum is not None and value > spec.maximum:
        raise OptionError(name, f"must be at most {_number(spec.maximum)}, not {value!r}")
    return value


def _number(x: float) -> str:
    if isinstance(x, int):
        return str(x)
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"

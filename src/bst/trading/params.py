"""Strategy parameters: a frozen dataclass per strategy, each field declared with `param(...)`.

    @dataclass(frozen=True)
    class SmaCrossParams(Params):
        fast: int = param(10, low=2, high=100, help="bars of the fast average")
        slow: int = param(20, low=3, high=400)
        qty: Decimal = param(Decimal("0.001"), low=Decimal("0.000001"))

        def validate(self) -> None:
            if self.fast >= self.slow:
                raise ConfigError(f"fast ({self.fast}) must be below slow ({self.slow})")

A field's type comes from its annotation: `int`, `float`, `Decimal`, `bool`, `str` or an `Enum`
(`Interval`, `Category`, a strategy's own `StrEnum`). `low`/`high` bound the values the parameter
accepts and are the optimiser's search range; `step` and `log` shape the search only (a value off the
step grid is still valid); `choices` makes a parameter categorical (an Enum's members by default).
Values are checked when the dataclass is built (`ConfigError`, one line), so a `Params` instance is
always valid. `search_space(SmaCrossParams)` reads the declarations back for the optimiser;
`parse_params` turns `--param fast=12` texts into an instance.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum, StrEnum
from typing import TypeVar, cast

from bst.domain.errors import ConfigError, InvalidNumberError
from bst.domain.market import Category, Interval
from bst.domain.numbers import parse_decimal

__all__ = [
    "ParamKind",
    "ParamValue",
    "Parameter",
    "Params",
    "build_params",
    "param",
    "parse_params",
    "parse_value",
    "search_space",
]

ParamValue = int | float | Decimal | bool | str | Enum
"""What a parameter can hold."""

T = TypeVar("T", bound=ParamValue)
P = TypeVar("P", bound="Params")

_SPEC_KEY = "bst.param"
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


class ParamKind(StrEnum):
    """How the optimiser samples a parameter."""

    INT = "int"
    FLOAT = "float"
    DECIMAL = "decimal"
    CATEGORICAL = "categorical"
    """One of `choices` (bools, enums, and any parameter declared with `choices`)."""
    FIXED = "fixed"
    """No range and no choices: not searched (a `str` without choices, an unbounded number)."""


@dataclass(frozen=True, slots=True)
class _Spec:
    """What `param(...)` declared, before the annotation is known."""

    low: ParamValue | None
    high: ParamValue | None
    step: ParamValue | None
    log: bool
    choices: tuple[ParamValue, ...] | None
    help: str


@dataclass(frozen=True, slots=True)
class Parameter:
    """One parameter of a strategy as the optimiser and the CLI see it.

    Invariants: `low <= default <= high` where bounds are given; `default in choices` when choices
    are given; `log` implies `low > 0`. `kind` is FIXED when there is nothing to search.
    """

    name: str
    type: type
    kind: ParamKind
    default: ParamValue
    low: ParamValue | None = None
    high: ParamValue | None = None
    step: ParamValue | None = None
    log: bool = False
    choices: tuple[ParamValue, ...] = ()
    help: str = ""

    def describe(self) -> str:
        """Return one line: name, type, default and the allowed values."""
        allowed = ""
        if self.choices:
            allowed = f", one of {', '.join(_show(c) for c in self.choices)}"
        elif self.low is not None or self.high is not None:
            allowed = f", in {_range(self)}"
        text = f"{self.name}: {self.type.__name__} = {_show(self.default)}{allowed}"
        return f"{text} ({self.help})" if self.help else text


def param(
    default: T,
    *,
    low: T | None = None,
    high: T | None = None,
    step: T | None = None,
    log: bool = False,
    choices: Sequence[T] | None = None,
    help: str = "",
) -> T:
    """Declare a parameter field: its default, bounds (the search range), step, log scale or choices.

    Returns a dataclass field (typed as the default so the annotation checks). Contradictory
    declarations raise ConfigError when the strategy module is imported.
    """
    if choices is not None and (low is not None or high is not None or step is not None or log):
        raise ConfigError("a parameter takes either choices or low/high/step/log, not both")
    if choices is not None and default not in choices:
        raise ConfigError(f"default {_show(default)} is not one of the choices {list(choices)}")
    if low is not None and high is not None and _less(high, low):
        raise ConfigError(f"low {_show(low)} is above high {_show(high)}")
    if (low is not None and _less(default, low)) or (high is not None and _less(high, default)):
        shown = f"[{_show(low) if low is not None else '-inf'}, {_show(high) if high is not None else 'inf'}]"
        raise ConfigError(f"default {_show(default)} is outside {shown}")
    if log and (low is None or high is None or not _less(0, low)):
        raise ConfigError("a log-scale parameter needs 0 < low <= high")
    if step is not None and not _less(0, step):
        raise ConfigError(f"step must be positive, got {_show(step)}")
    spec = _Spec(low, high, step, log, tuple(choices) if choices is not None else None, help)
    return dataclasses.field(default=default, metadata={_SPEC_KEY: spec})


@dataclass(frozen=True)
class Params:
    """Base of every strategy's parameters; subclasses are `@dataclass(frozen=True)`.

    Building an instance checks every field against its declaration (type, bounds, choices), then
    calls `validate()` for rules across fields; both raise ConfigError with one line.
    """

    def __post_init__(self) -> None:
        for parameter in search_space(type(self)):
            _check_value(type(self), parameter, getattr(self, parameter.name))
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError when fields contradict each other (override; the base accepts all)."""

    def values(self) -> dict[str, ParamValue]:
        """Return the fields as a name -> value mapping (for reports and the optimiser)."""
        return {p.name: getattr(self, p.name) for p in search_space(type(self))}


def search_space(params_type: type[Params]) -> tuple[Parameter, ...]:
    """Return the declared parameters of `params_type`, in field order.

    Raises ConfigError for a field whose type is not supported, a class not decorated as a frozen
    dataclass, or a default that does not match its annotation.
    """
    found = _SPACES.get(params_type)
    if found is None:
        found = _SPACES[params_type] = _read_space(params_type)
    return found


_SPACES: dict[type[Params], tuple[Parameter, ...]] = {}
"""Each Params class's declarations, read once (every instance checks its values against them)."""


def _read_space(params_type: type[Params]) -> tuple[Parameter, ...]:
    if not dataclasses.is_dataclass(params_type) or not issubclass(params_type, Params):
        raise ConfigError(f"{params_type.__name__} is not a Params dataclass")
    declared = {f.name for f in dataclasses.fields(params_type)}
    for name, value in vars(params_type).items():
        if isinstance(value, dataclasses.Field) and name not in declared:
            raise ConfigError(f"decorate {params_type.__name__} with @dataclass(frozen=True)")
    hints = typing.get_type_hints(params_type)
    out = []
    for f in dataclasses.fields(params_type):
        out.append(_parameter(params_type, f, hints[f.name]))
    return tuple(out)


def _parameter(owner: type, f: dataclasses.Field[object], annotation: object) -> Parameter:
    where = f"{owner.__name__}.{f.name}"
    if not isinstance(annotation, type) or not issubclass(annotation, (int, float, Decimal, str, Enum)):
        raise ConfigError(f"{where}: parameters are int, float, Decimal, bool, str or an Enum")
    if f.default is dataclasses.MISSING:
        raise ConfigError(f"{where} needs a default (declare it with param(default, ...))")
    default = f.default
    if not _has_type(annotation, default):
        raise ConfigError(f"{where}: default {default!r} is not a {annotation.__name__}")
    spec = f.metadata.get(_SPEC_KEY) or _Spec(None, None, None, False, None, "")
    assert isinstance(spec, _Spec)
    for bound in (spec.low, spec.high, spec.step, *(spec.choices or ())):
        if bound is not None and not _has_type(annotation, bound):
            raise ConfigError(f"{where}: {bound!r} is not a {annotation.__name__}")
    choices = spec.choices
    if choices is None and annotation is bool:
        choices = (False, True)
    elif choices is None and issubclass(annotation, Enum):
        choices = tuple(annotation)
    kind = _kind(annotation, spec, choices)
    return Parameter(
        name=f.name,
        type=annotation,
        kind=kind,
        default=cast(ParamValue, default),
        low=spec.low,
        high=spec.high,
        step=spec.step,
        log=spec.log,
        choices=choices or (),
        help=spec.help,
    )


def _kind(annotation: type, spec: _Spec, choices: tuple[ParamValue, ...] | None) -> ParamKind:
    if choices:
        return ParamKind.CATEGORICAL
    if spec.low is None or spec.high is None:
        return ParamKind.FIXED
    if annotation is int:
        return ParamKind.INT
    if annotation is float:
        return ParamKind.FLOAT
    if annotation is Decimal:
        return ParamKind.DECIMAL
    return ParamKind.FIXED


def build_params(params_type: type[P], values: Mapping[str, object] | None = None) -> P:
    """Return `params_type` with `values` (Python values) over the defaults; unknown names refused."""
    given = dict(values or {})
    _refuse_unknown(params_type, given)
    try:
        return params_type(**given)
    except TypeError as e:  # a value the dataclass itself refused (never for declared fields)
        raise ConfigError(f"{params_type.__name__}: {e}") from None


def parse_params(params_type: type[P], texts: Sequence[str] | Mapping[str, str]) -> P:
    """Return `params_type` from `name=value` texts (`--param fast=12`) over the defaults.

    Each text is parsed as its field's type; unknown names, bad values and values out of range raise
    ConfigError with one line naming the parameter and what it accepts.
    """
    pairs = dict(texts) if isinstance(texts, Mapping) else dict(_split(t) for t in texts)
    _refuse_unknown(params_type, pairs)
    by_name = {p.name: p for p in search_space(params_type)}
    values = {name: _parse_text(by_name[name], text) for name, text in pairs.items()}
    return build_params(params_type, values)


def parse_value(p: Parameter, text: str) -> ParamValue:
    """Return one `--param` text read as `p`'s type (bounds and choices are not checked here).

    Raises ConfigError with one line naming the parameter and what it accepts.
    """
    return _parse_text(p, text.strip())


def _split(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ConfigError(f"invalid parameter {text!r}: use name=value, e.g. fast=12")
    return name.strip(), value.strip()


def _refuse_unknown(params_type: type[Params], names: Mapping[str, object]) -> None:
    known = [p.name for p in search_space(params_type)]
    for name in names:
        if name not in known:
            listed = ", ".join(known) if known else "none"
            raise ConfigError(f"unknown parameter {name!r} for {params_type.__name__}: known are {listed}")


def _parse_text(p: Parameter, text: str) -> ParamValue:
    fail = f"invalid value {text!r} for parameter {p.name}"
    tp = p.type
    if tp is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ConfigError(f"{fail}: use true or false")
    if issubclass(tp, Interval):
        return Interval.parse(text)  # its own one-line error, aliases like 1h included
    if issubclass(tp, Category):
        return Category.parse(text)
    if issubclass(tp, Enum):
        for member in tp:
            if text in (str(member.value), member.name) or text.lower() == str(member.value).lower():
                return member
        raise ConfigError(f"{fail}: use one of {', '.join(str(m.value) for m in tp)}")
    if tp is int:
        try:
            return int(text.replace("_", ""), 10)
        except ValueError:
            raise ConfigError(f"{fail}: expected a whole number, e.g. 12") from None
    if tp is float:
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"{fail}: expected a number, e.g. 0.5") from None
        if not math.isfinite(value):
            raise ConfigError(f"{fail}: expected a finite number")
        return value
    if tp is Decimal:
        try:
            return parse_decimal(text)
        except InvalidNumberError as e:
            raise ConfigError(f"{fail}: {e.reason}") from None
    return text


def _check_value(owner: type, p: Parameter, value: object) -> None:
    where = f"{owner.__name__}.{p.name}"
    if not _has_type(p.type, value):
        raise ConfigError(f"{where} must be a {p.type.__name__}, got {value!r}")
    assert isinstance(value, ParamValue)
    if isinstance(value, float | Decimal) and not _finite(value):
        raise ConfigError(f"{where} must be a finite number, got {value}")
    if p.choices and value not in p.choices:
        raise ConfigError(f"{where} = {_show(value)} is not one of {', '.join(_show(c) for c in p.choices)}")
    if (p.low is not None and _less(value, p.low)) or (p.high is not None and _less(p.high, value)):
        raise ConfigError(f"{where} = {_show(value)} is out of range {_range(p)}")


def _has_type(tp: type, value: object) -> bool:
    if tp is bool or isinstance(value, bool):
        return tp is bool and isinstance(value, bool)
    if tp is float:
        return isinstance(value, float | int)
    return isinstance(value, tp)


def _finite(value: float | Decimal) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)


def _less(a: object, b: object) -> bool:
    return cast(bool, a < b)  # type: ignore[operator]  # both of one declared numeric type


def _show(value: object) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def _range(p: Parameter) -> str:
    low = _show(p.low) if p.low is not None else "-inf"
    high = _show(p.high) if p.high is not None else "inf"
    return f"[{low}, {high}]"

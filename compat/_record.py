"""A base for compat's small read-only value classes.

It gives what ``@dataclass(frozen=True)`` gave them (a repr, ``==`` and a hash over
the fields, fields that cannot be reassigned) plus ``replace()``, without importing
:mod:`dataclasses`, which imports :mod:`inspect` and :mod:`ast` (several ms that
every spawned child would pay for). A subclass lists its fields in ``_fields``
(also its ``__slots__``: ``__slots__ = _fields``) and takes them, in that order and
under the same names, in its ``__init__``, which stores them with :meth:`_init`.
(``__slots__`` alone would not do: linters sort it.)
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    _R = TypeVar("_R", bound="Record")

__all__ = ["Record"]


class Record:
    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def _init(self, *values: Any) -> None:
        """Store ``values``, one per field, in ``_fields`` order (from ``__init__``)."""
        for name, value in zip(self._fields, values):
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def replace(self: _R, **changes: Any) -> _R:
        """A copy with some fields changed (as ``dataclasses.replace``)."""
        fields = dict(zip(self._fields, self._values()))
        fields.update(changes)
        return type(self)(**fields)

    __replace__ = replace  # copy.replace() (CPython 3.13+)

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={v!r}" for n, v in zip(self._fields, self._values()))
        return f"{type(self).__qualname__}({fields})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Record)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of {type(self).__name__}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt through __init__: pickle's default would setattr() the slots.
        return type(self), self._values()

"""Coded columns: a column as codes into its distinct values, and the pandas column of one.

The batch decoder (:mod:`.fastdecode`) decodes every distinct string, address or byte value of
a column once, and keeps the rows as integer codes into those values; :mod:`.frames` applies
the flow-record rules to the distinct values rather than to every row. This module holds the
shared shape and its conversion to a pandas text column (``str`` or Categorical).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np

Strings = Literal["str", "category"]  # how text columns come out: pandas str, or Categorical


def object_array(values: Sequence[Any]) -> np.ndarray:
    """A 1-D numpy object array holding ``values`` as they are (numpy would otherwise turn a
    list of tuples or of equal-length bytes into a 2-D or fixed-width array)."""
    out = np.empty(len(values), object)
    out[:] = list(values) if not isinstance(values, list) else values
    return out


@dataclass
class CodedColumn:
    """A column as codes into distinct Python values (decoded once each)."""

    codes: np.ndarray
    uniques: np.ndarray  # object

    def map(self, fn: Callable[[Any], Any]) -> CodedColumn:
        """``fn`` of every row, computed once per distinct value."""
        return CodedColumn(self.codes, object_array([fn(v) for v in self.uniques]))

    def objects(self) -> np.ndarray:
        return self.uniques.take(self.codes)


def text_column(col: CodedColumn, strings: Strings, pd: Any) -> Any:
    """The pandas column of ``col``: pandas' ``str`` dtype (or a Categorical with
    ``strings="category"``) when every value is a str, else an object array."""
    values = col.uniques
    if all(isinstance(v, str) for v in values):
        fix, distinct = pd.factorize(values)
        codes = fix.take(col.codes)
        if strings == "category":
            return pd.Categorical.from_codes(codes, categories=pd.Index(distinct, dtype=object))
        objects = object_array(list(distinct)).take(codes)
        dtype = _str_dtype(pd)
        if getattr(dtype, "storage", None) == "python":  # pandas 3 without pyarrow: the
            return pd.arrays.StringArray(objects, dtype=dtype)  # constructor checks, cheaper than converting
        return pd.array(objects, dtype=dtype)
    return col.objects()


def _str_dtype(pd: Any) -> Any:
    """The dtype pandas gives a column of Python str (``str`` from pandas 3, object before)."""
    return pd.Series(["x"]).dtype


__all__ = ["CodedColumn", "Strings", "object_array", "text_column"]

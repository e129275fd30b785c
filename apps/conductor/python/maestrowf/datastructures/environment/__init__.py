"""Stand-in for `maestrowf.datastructures.environment`: only Variable."""

from maestrowf.datastructures.environment.variable import Variable

__all__ = ("Variable",)

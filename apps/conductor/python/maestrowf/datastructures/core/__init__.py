"""Stand-in for `maestrowf.datastructures.core`: what parameter generators import from it."""

from maestrowf.datastructures.core.parameters import Combination, ParameterGenerator
from maestrowf.datastructures.core.studyenvironment import StudyEnvironment

__all__ = ("Combination", "ParameterGenerator", "StudyEnvironment")

"""Stand-in for the `maestrowf` package, for running original Maestro `--pgen` files.

The TypeScript conductor does not install Maestro. Its pgen runner (maestro_pgen_runner.py) puts
this folder first on sys.path, so `from maestrowf.datastructures.core import ParameterGenerator`
in a user's generator finds these small classes instead. Only what parameter generators use is
here: ParameterGenerator (and Combination), StudyEnvironment and Variable.
"""

__version__ = "0.0.0+maestro-ts-pgen"

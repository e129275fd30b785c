"""Runs an original Maestro parameter generator (a `--pgen FILE.py`) for the TypeScript conductor.

Protocol (the only caller is apps/conductor/src/pgen/python-generator.ts):
  argv    maestro_pgen_runner.py PGEN_FILE
  stdin   JSON {"pargs": {KEY: VALUE}, "env": {NAME: VALUE}, "outputPath": "...", "specRoot": "..."}
  stdout  JSON [{"key": K, "values": [str(v), ...], "label": str or [str, ...], "name": str}, ...]
          and nothing else: the generator's own output (and that of any process it starts) goes
          to stderr.
  exit    0  success
          1  the generator raised: stderr ends with a line "maestro-pgen: <what failed>", then
             the traceback (without this runner's frames), then maybe a "note: ..." line
          3  the file gives nothing usable: the last stderr line is "maestro-pgen: <why>"
  Any other failure (a bug here, a Python too old) exits non-zero with Python's own traceback.

Like Maestro's load_parameter_generator, it imports the file with
importlib.util.spec_from_file_location and calls get_custom_generator(env, **kwargs), where
kwargs are the pargs (text values) plus OUTPUT_PATH (text) and SPECROOT (a Variable). Values
become text here, with Python's own str(), so 2.0 stays "2.0" and True stays "True".

Runs on Python 3.6 and later: no dataclasses, walrus or `X | Y` here.
"""

import importlib.util
import json
import os
import sys
import traceback

RUNNER = os.path.abspath(__file__)
HERE = os.path.dirname(RUNNER)
EXIT_RAISED = 1
EXIT_UNUSABLE = 3
MARK = "maestro-pgen: "
FUNCTION = "get_custom_generator"


class Unusable(Exception):
    """The file loaded and ran, but gave no usable parameters."""


def main(argv):
    if len(argv) != 2:
        return unusable("usage: maestro_pgen_runner.py PGEN_FILE (request JSON on stdin)")
    path = os.path.abspath(argv[1])
    request = json.load(sys.stdin)

    # fd 1 carries only our JSON. Point it at stderr while user code runs, so prints (and
    # subprocesses that inherit fd 1) cannot corrupt the result.
    result_out = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    os.dup2(2, 1)

    # The stand-in maestrowf must win over any installed Maestro; the generator's own folder
    # comes next so it can import helper modules that sit beside it.
    sys.path[:0] = [HERE, os.path.dirname(path)]
    from maestrowf.datastructures.core import StudyEnvironment
    from maestrowf.datastructures.environment import Variable

    env = StudyEnvironment()
    for name, value in request["env"].items():
        env.add(Variable(name, value))
    # Maestro adds both to the environment before it calls the generator.
    for name, value in (("OUTPUT_PATH", request["outputPath"]), ("SPECROOT", request["specRoot"])):
        if name not in env:
            env.add(Variable(name, value))

    kwargs = dict(request["pargs"])
    kwargs["OUTPUT_PATH"] = request["outputPath"]
    kwargs["SPECROOT"] = Variable("SPECROOT", request["specRoot"])
    sys.argv = [path]

    try:
        spec = importlib.util.spec_from_file_location("custom_gen", path)
        if spec is None or spec.loader is None:
            return unusable("cannot be imported as a Python module")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except BaseException:
        return raised(env, "importing the file raised an exception")

    function = getattr(module, FUNCTION, None)
    if not callable(function):
        defined = sorted(
            name
            for name, value in vars(module).items()
            if callable(value) and getattr(value, "__module__", None) == module.__name__
        )
        return unusable(
            "defines no {}(env, **kwargs) function{}".format(
                FUNCTION, "; it defines: " + ", ".join(defined) if defined else ""
            )
        )

    try:
        generator = function(env, **kwargs)
    except BaseException:
        return raised(env, "{} raised an exception".format(FUNCTION))

    try:
        rows = to_rows(generator)
    except Unusable as err:
        return unusable(str(err))
    except BaseException:
        return raised(env, "str() of a parameter value raised an exception")

    json.dump(rows, result_out)
    result_out.write("\n")
    result_out.close()
    return 0


def to_rows(generator):
    """The generator's parameters as JSON-ready rows, every value through str()."""
    if generator is None:
        raise Unusable(
            "{} returned None; it must return the ParameterGenerator it filled "
            "(is 'return p_gen' missing?)".format(FUNCTION)
        )
    parameters = getattr(generator, "parameters", None)
    if not isinstance(parameters, dict):
        raise Unusable(
            "{} returned {}; it must return a ParameterGenerator "
            "(from maestrowf.datastructures.core import ParameterGenerator)".format(
                FUNCTION, type(generator).__name__
            )
        )
    labels = getattr(generator, "labels", None) or {}
    names = getattr(generator, "names", None) or {}
    ltoken = getattr(generator, "label_token", "%%")
    rows = []
    for key, values in parameters.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise Unusable(
                "parameter {!r}: values must be a list, not {} {!r}".format(
                    key, type(values).__name__, values
                )
            )
        label = labels.get(key) or "{}.{}".format(key, ltoken)
        if isinstance(label, (list, tuple)):
            label = [str(item) for item in label]
        else:
            label = str(label)
        rows.append(
            {
                "key": str(key),
                "values": [str(value) for value in values],
                "label": label,
                "name": str(names.get(key) or key),
            }
        )
    return rows


def raised(env, what):
    """Print `what` failed, then the pending exception's traceback from the user's first frame."""
    exc_type, exc, tb = sys.exc_info()
    while tb is not None and is_ours(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    sys.stderr.flush()
    sys.stderr.write(MARK + what + "\n")
    traceback.print_exception(exc_type, exc, tb)
    if env.missing:
        sys.stderr.write(
            "note: env.find() returned None for {}; the study defines: {}\n".format(
                ", ".join(env.missing), ", ".join(env.names()) or "(nothing)"
            )
        )
    sys.stderr.flush()
    return EXIT_RAISED


def is_ours(filename):
    return filename.startswith("<frozen importlib") or os.path.abspath(filename) == RUNNER


def unusable(message):
    sys.stderr.write(MARK + message + "\n")
    sys.stderr.flush()
    return EXIT_UNUSABLE


if __name__ == "__main__":
    sys.exit(main(sys.argv))

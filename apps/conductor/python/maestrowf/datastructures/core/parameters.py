"""Stand-in for `maestrowf.datastructures.core.parameters`, as parameter generators use it.

Same behaviour as Maestro's module: parameters are columns of values, zipped row by row (never
crossed); the default label is "KEY.%%"; a label may also be a list with one label per value;
re-adding a key overrides it (with a warning); get_combinations() raises ValueError when the
columns have different lengths.
"""

from collections import OrderedDict
import logging

LOGGER = logging.getLogger(__name__)


class Combination(object):
    """One row of parameter values, with its labels and names."""

    def __init__(self, token="$"):
        self._params = OrderedDict()
        self._labels = OrderedDict()
        self._names = OrderedDict()
        self._token = token

    def add(self, key, name, value, label):
        """Add one parameter's value, label and name to the row."""
        self._params[key] = value
        self._labels[key] = label
        self._names[key] = name

    def get_param_string(self, params):
        """The labels of `params`, sorted by key and joined with '.' (Maestro's instance name)."""
        labels = []
        for key in sorted(params):
            if key not in self._labels:
                raise ValueError("Parameter '{}' is not in this combination".format(key))
            labels.append(str(self._labels[key]))
        return ".".join(labels)

    def get_param_values(self, params):
        """(key, value) pairs of `params`, sorted by key."""
        return [(key, self._params[key]) for key in sorted(params)]

    def apply(self, item):
        """Replace $(KEY.label), then $(KEY), then $(KEY.name) in a string."""
        if not isinstance(item, str):
            return item
        for key, label in self._labels.items():
            item = item.replace("{}({}.label)".format(self._token, key), str(label))
        for key, value in self._params.items():
            item = item.replace("{}({})".format(self._token, key), str(value))
        for key, name in self._names.items():
            item = item.replace("{}({}.name)".format(self._token, key), str(name))
        return item

    def __str__(self):
        return self.get_param_string(list(self._labels.keys()))

    def __repr__(self):
        return "Combination({})".format(dict(self._params))


class ParameterGenerator(object):
    """Parameters a `--pgen` file builds and returns from get_custom_generator(env, **kwargs)."""

    def __init__(self, token="$", ltoken="%%"):
        self.parameters = OrderedDict()
        self.labels = OrderedDict()
        self.names = OrderedDict()
        self.token = token
        self.label_token = ltoken

    def add_parameter(self, key, values, label=None, name=None):
        """Add a column `key` with `values`.

        `label` is a template with "%%" for the value (default "KEY.%%") or one label per value;
        `name` is what $(KEY.name) gives (default: the key). Re-adding a key replaces it.
        """
        if key in self.parameters:
            LOGGER.warning("Duplicate parameter '%s' found. Overriding...", key)
        self.parameters[key] = values
        self.labels[key] = label if label else "{}.{}".format(key, self.label_token)
        self.names[key] = name if name else key

    def _verify_parameters(self):
        lengths = set(len(values) for values in self.parameters.values())
        if len(lengths) > 1:
            sizes = ", ".join(
                "{}: {}".format(key, len(values)) for key, values in self.parameters.items()
            )
            raise ValueError(
                "All parameters must have the same number of values ({})".format(sizes)
            )

    @property
    def length(self):
        """Number of combinations (rows); ValueError if the columns differ in length."""
        self._verify_parameters()
        for values in self.parameters.values():
            return len(values)
        return 0

    def get_combinations(self):
        """Yield one Combination per row: row i takes value i of every parameter."""
        for i in range(self.length):
            combo = Combination(self.token)
            for key, values in self.parameters.items():
                value = values[i]
                label = self.labels[key]
                if isinstance(label, (list, tuple)):
                    label = label[i]
                else:
                    label = label.replace(self.label_token, str(value))
                combo.add(key, self.names[key], value, label)
            yield combo

    def get_metadata(self):
        """The parameters and labels, as Maestro records them in the study metadata."""
        return {"parameters": dict(self.parameters), "labels": dict(self.labels)}

    def __bool__(self):
        return bool(self.parameters)

    __nonzero__ = __bool__

    def __len__(self):
        return self.length

    def __iter__(self):
        return self.get_combinations()

    def __repr__(self):
        return "ParameterGenerator({})".format(", ".join(self.parameters.keys()))

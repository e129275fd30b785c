"""Stand-in for Maestro's StudyEnvironment: the study's variables, labels and dependencies."""

from collections import OrderedDict


class StudyEnvironment(object):
    """The `env` argument of get_custom_generator(env, **kwargs).

    Holds one Variable per name of the study's `env` block (variables, labels and dependencies,
    already resolved to text). Like the original, `find(name)` returns None for a name the study
    does not define; the runner remembers those names to explain a later
    "'NoneType' object has no attribute 'value'".
    """

    def __init__(self):
        self._items = OrderedDict()
        self.missing = []

    def add(self, item):
        """Add (or replace) an item that has `.name` and `.value`."""
        self._items[item.name] = item

    def find(self, key):
        """The item named `key`, or None if the study defines no such name."""
        item = self._items.get(key)
        if item is None and key not in self.missing:
            self.missing.append(key)
        return item

    def names(self):
        """Every defined name, in study order."""
        return list(self._items.keys())

    def apply_environment(self, item):
        """Replace every `$(NAME)` the environment defines in a string; other values pass through."""
        if not isinstance(item, str):
            return item
        for var in self._items.values():
            item = var.substitute(item)
        return item

    def __contains__(self, key):
        return key in self._items

    def __repr__(self):
        return "StudyEnvironment({})".format(", ".join(self._items.keys()))

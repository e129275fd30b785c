"""Stand-in for Maestro's Variable: a named value that replaces `$(NAME)` in text."""


class Variable(object):
    """A study variable, label or dependency, with its value fully resolved to text.

    Maestro passes `SPECROOT` to get_custom_generator as one of these, and `env.find(NAME)`
    returns one. `str(v)` and `os.fspath(v)` give the value, so `os.path.join(SPECROOT, "x")`
    works here (the original Variable needs `SPECROOT.value`).
    """

    def __init__(self, name, value, token="$"):
        self.name = name
        self.value = value
        self.token = token

    def substitute(self, data):
        """Replace `$(NAME)` in `data` with the value."""
        if not isinstance(data, str):
            return data
        return data.replace("{}({})".format(self.token, self.name), str(self.value))

    def __fspath__(self):
        return str(self.value)

    def __str__(self):
        return str(self.value)

    def __repr__(self):
        return "Variable(name={!r}, value={!r})".format(self.name, self.value)

"""One exception type for everything a user can get wrong."""


class UserError(Exception):
    """Bad input: a file, a flag or a setting. Reported as one line, exit code 2.

    The message names the file (when there is one) and what is wrong with it.
    """

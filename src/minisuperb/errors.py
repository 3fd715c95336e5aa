"""The one exception type users see: what went wrong, where, and how to fix it."""


class MinisuperbError(Exception):
    """A user-facing error. The CLI prints its message (no traceback) and exits with status 2.

    Write messages as: what is wrong, where (file, key, utterance id), and how to fix it.
    """

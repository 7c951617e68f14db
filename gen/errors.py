"""The one exception type the command line turns into a clear error line."""


class GenError(Exception):
    """A problem with the user's input or environment, reported as one line.

    `hint` is an optional second line telling the user how to fix it.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class TreeError(GenError):
    """The Xen tree is missing, not Xen, dirty or unsupported."""


class AnchorError(GenError):
    """An anchor the templates depend on is missing or has changed shape."""


class StyleError(GenError):
    """Rendered C breaks Xen's CODING_STYLE."""


class OutputError(GenError):
    """The output location cannot be written as asked."""

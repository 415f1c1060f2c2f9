"""The one error type the CLI shows to a user: a message and an exit code."""

from __future__ import annotations

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells expect after Ctrl-C


class CliError(Exception):
    """Shown as one line `error: <message>` on stderr; exit `code` (1 failure, 2 bad usage)."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def usage_error(message: str) -> CliError:
    return CliError(message, EXIT_USAGE)

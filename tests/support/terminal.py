"""A terminal for the commands' progress lines: a text buffer that says it is a TTY."""

import io


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def final_lines(terminal: FakeTerminal) -> list[str]:
    """What the terminal shows in the end: the last redraw of each line."""
    return [line.rsplit("\r", 1)[-1] for line in terminal.getvalue().split("\n") if line]

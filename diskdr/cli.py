"""The ``diskdr`` command (filled in by the foundation issue)."""


def main(argv: list[str] | None = None) -> int:
    print("diskdr: not implemented yet")
    return 1

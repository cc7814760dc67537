"""Command-line tools. Each module has ``get_parser()`` and ``main(argv=None) -> int``."""

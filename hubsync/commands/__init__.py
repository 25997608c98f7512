"""One module per subcommand: ``configure(parser, name)`` and ``run(args) -> int``."""

"""One module per subcommand; see edged.cli."""

"""The command line: one command with subcommands, built from the settings."""

"""The `nfc-hospital` command line: one entry point that hands each subcommand to its part."""

"""The `vividvr` command line."""

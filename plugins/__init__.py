"""The host plugins' files (Resolve scripts, the Nuke folder), installed as `vividvr_plugins` package data.

Nothing here is imported by a host: `vividvr plugins install` copies these files into the host's
own folders, from a source checkout and from a wheel alike.
"""

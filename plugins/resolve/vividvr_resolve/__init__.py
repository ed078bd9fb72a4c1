"""Vivid-VR inside DaVinci Resolve: the logic behind the menu scripts.

Runs in the Python that Resolve uses, so it imports only the standard library, the daemon client
(grpc, protobuf) and the engine's pure timecode module. Every call into Resolve goes through
`host.py`; everything else is plain data and arithmetic that tests drive against a fake Resolve.
"""

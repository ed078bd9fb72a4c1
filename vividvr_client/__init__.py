"""VividVR's client library: what a host application's Python imports to talk to the daemon.

Torch-free by design: it needs only grpcio and protobuf, so DaVinci Resolve's and Nuke's own
Pythons load it. It holds the generated gRPC stubs (`v1`), the daemon client (`client`), OTIO clip
JSON built without opentimelineio (`otio_json`), and frame ranges and SMPTE timecode
(`timecode`). The CLI, the daemon's tests and both host plugins import it; nothing here imports
the engine or the daemon.
"""

"""VividVR daemon: a long-lived gRPC service that owns the GPU and runs restoration jobs.

Only `vividvr_daemon.client` (and the generated stubs it uses) is meant for hosts such as the
Resolve and Nuke plugins: it imports grpc and protobuf, never torch or the engine.
"""

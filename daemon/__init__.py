"""VividVR daemon: a long-lived gRPC service that owns the GPU and runs restoration jobs.

Hosts such as the Resolve and Nuke plugins never import this package: they talk to the daemon
through the torch-free `vividvr_client` package.
"""

"""Stand-ins for host applications, written from ../shared/design/hosts.md."""

"""User-facing commands: the `subnet` CLI, the local subnet, owner tools and benchmarks."""

"""The embedded dev chain: a pure state machine (`machine.DevChain`), its SQLite store, the
`subnet devchain` node that serves it over JSON-RPC, and the client both `dev:memory` and
`dev://` use."""

// Package security runs the real lookout binary, on its built-in local config and the overlays
// in testdata/, against real backends that require TLS, mutual TLS, basic auth or a bearer token,
// and checks that logs, metrics and traces arrive, and that a wrong CA, a missing client
// certificate or wrong credentials give a clear error in the agent's log. docs/security.md
// describes the overlays; its tests are all in _test files.
package security

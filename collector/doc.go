// Package collector is the Lookout distribution: the components it is built from (declared in
// manifest.yaml) and its built-in configurations.
package collector

//go:generate go run ./internal/gen

// Package scalekit speaks Scalekit's passwordless API in both directions:
// Provider serves it on top of Latch's engine (OAuth2 client credentials,
// REST JSON, gRPC and Connect), so apps written for Scalekit can point at
// a Latch URL unchanged; Client calls an upstream Scalekit-compatible
// provider (Scalekit itself, or another Latch) for the app routes.
//
// The wire types are generated from proto/ into gen/ (see generate.go).
package scalekit

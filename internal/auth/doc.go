// Package auth is Latch's engine: the rules of a passwordless login
// (challenges with a one-time code and a magic link, attempt limits,
// sessions) and the interfaces of the parts it consumes (Store, Limiter,
// Mailer, Clock). It knows nothing of HTTP; transports translate to and from it.
package auth

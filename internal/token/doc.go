// Package token keeps Latch's signing keys and signs and verifies its
// JWTs. It has one job and no net/http: the HTTP faces (the JWKS, POST
// /api/auth/token, bearer tokens on /api/me, forward-auth, the OpenID
// provider) live in their own packages and call an *Issuer.
//
// # Keys
//
// The key ring is one record in the kv.Store (see ring.go), shared by
// every replica and kept across restarts. Private keys are sealed by the
// vault (a key derived from SESSION_SECRET). The first key is made on
// first use by one atomic update, so replicas that start at once agree.
// Keys are RS256 (RSA 2048 or 3072) or ES256 and named by their RFC 7638
// thumbprint. A key signs for Config.Rotation (30 days); Config.PublishAhead
// before that, its successor is published as "next"; then the successor
// becomes current and the old key "retired", published for Config.MaxTTL
// plus Config.Leeway more, so every token it signed verifies until it
// expires. Rotate does the same at once (`latch keys rotate`). The ring is
// maintained by whichever replica first reads it when it is due.
//
// Each process caches the ring for Config.Refresh (30 s): signing reads
// no store, and a rotation elsewhere reaches this process within Refresh
// — at once for verification, since a token with a key id this process
// has not seen makes it read the ring again (at most once a second).
//
// # Tokens
//
// Mint signs any claims with the current key (iss, iat, exp and jti are
// set by the issuer), with a typ header naming the kind of token
// (TypeAccess "at+jwt" per RFC 9068, TypeID "JWT"); the OpenID provider
// adds aud, nonce, auth_time, azp and scope itself. Verify accepts only
// RS256 and ES256 (never none, never a MAC), a kid of a published key
// whose algorithm matches the header, the issuer, the expected audience
// and type, and exp and iat within Config.Leeway.
//
// MintAccess and VerifyAccess are the access tokens of POST
// /api/auth/token: sub (the user id), aud (JWT_AUDIENCE), email,
// email_verified, sid (the session id, the SHA-256 of the session cookie,
// which bears no secret). VerifyAccess is the entry point for every part
// of Latch that accepts a bearer token; it checks the token only, so a
// caller that must refuse a token whose session has ended looks the
// session up by Access.SessionID.
package token

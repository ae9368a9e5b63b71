// Package oidc is Latch's OpenID provider face: discovery, the
// authorization endpoint (code flow with PKCE), the token endpoint's
// authorization_code and refresh_token grants, userinfo, revocation and
// RP-initiated logout, over one registry of clients. Sign-in itself is
// Latch's /login page; tokens are signed by internal/token; every record
// (pending requests, codes, refresh-token families, consents) lives in the
// kv store with a private, versioned encoding.
package oidc

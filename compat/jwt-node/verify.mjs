// Verifies a Latch access token the way an API written for Node would
// (docs/tokens.md): jose's createRemoteJWKSet fetches and caches Latch's
// key set, jwtVerify checks the signature, iss, aud, exp and typ.
//
// Usage: LATCH_URL=https://login.example.com AUDIENCE=… TOKEN=… node verify.mjs
// Prints the verified claims as JSON; exits 1 when the token is refused.
import { createRemoteJWKSet, jwtVerify } from "jose";

const issuer = process.env.ISSUER ?? process.env.LATCH_URL; // BASE_URL, no trailing slash
const JWKS = createRemoteJWKSet(new URL("/.well-known/jwks.json", process.env.LATCH_URL));

try {
  const { payload, protectedHeader } = await jwtVerify(process.env.TOKEN, JWKS, {
    issuer,
    audience: process.env.AUDIENCE ?? issuer, // JWT_AUDIENCE
    typ: "at+jwt",
    algorithms: ["RS256", "ES256"],
    clockTolerance: 30,
  });
  console.log(JSON.stringify({ kid: protectedHeader.kid, ...payload }));
} catch (err) {
  console.error(`refused: ${err.code ?? err.name}: ${err.message}`);
  process.exit(1);
}

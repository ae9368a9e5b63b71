// Checks that the official Scalekit Node SDK works unchanged against Latch's
// provider API: token fetch on the first UNAUTHENTICATED, send, a wrong code
// (must fail), resend, the right code, a magic-link token, and state echo.
//
// Environment: LATCH_URL (the server, used as the Scalekit environment URL),
// CLIENT_ID, CLIENT_SECRET (one of its API_CLIENTS), and optionally
// RESEND_WAIT_MS (how long to wait out the resend cooldown; default 1100).
// Codes and links are read from the development outbox at
// LATCH_URL/dev/outbox.json?to=EMAIL.
import { ScalekitClient } from "@scalekit-sdk/node";

const { LATCH_URL, CLIENT_ID, CLIENT_SECRET } = process.env;
if (!LATCH_URL || !CLIENT_ID || !CLIENT_SECRET) {
  console.error("set LATCH_URL, CLIENT_ID and CLIENT_SECRET");
  process.exit(2);
}
const resendWait = Number(process.env.RESEND_WAIT_MS ?? 1100);
const base = LATCH_URL.replace(/\/+$/, "");

// Enum values of scalekit.v1.auth.passwordless, as the SDK returns them.
const LINK_OTP = 3;
const SIGNIN = 1;
// gRPC status codes.
const INVALID_ARGUMENT = 3;
const NOT_FOUND = 5;

let passed = 0;
let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${err?.stack ?? err}`);
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
async function expectFailure(promise, grpcCode, substring) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert(err, "the call succeeded but must fail");
  assert(err.grpcStatus === grpcCode, `gRPC status ${err.grpcStatus}, want ${grpcCode} (${err.message})`);
  assert(String(err.message).includes(substring), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(substring)}`);
  return err;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// newestMail waits until the outbox holds more than `after` messages to
// `to` (delivery may be queued) and returns the newest.
async function newestMail(to, after) {
  for (let i = 0; i < 50; i++) {
    const res = await fetch(`${base}/dev/outbox.json?to=${encodeURIComponent(to)}`);
    assert(res.ok, `outbox: HTTP ${res.status}`);
    const { messages } = await res.json();
    if (messages.length > after) return { mail: messages[messages.length - 1], count: messages.length };
    await sleep(100);
  }
  throw new Error(`no new mail to ${to}`);
}

const scalekit = new ScalekitClient(base, CLIENT_ID, CLIENT_SECRET);
const stamp = `${Date.now()}-${process.pid}`;
const email = `node-code-${stamp}@example.com`;
const linkEmail = `node-link-${stamp}@example.com`;
const magiclinkAuthUri = "https://app.example.com/passwordless/verify";
const state = `state-${stamp}`;
let authRequestId;
let mails = 0;
let firstCode;

await check("send (the SDK fetches its token on the first UNAUTHENTICATED)", async () => {
  const res = await scalekit.passwordless.sendPasswordlessEmail(email, {
    template: "SIGNIN",
    state,
    magiclinkAuthUri,
    expiresIn: 600,
    templateVariables: { team: "Compat" },
  });
  authRequestId = res.authRequestId;
  assert(authRequestId, "no authRequestId");
  assert(res.expiresIn === 600, `expiresIn ${res.expiresIn}`);
  assert(res.passwordlessType === LINK_OTP, `passwordlessType ${res.passwordlessType}`);
  const now = BigInt(Math.floor(Date.now() / 1000));
  assert(res.expiresAt > now + 500n && res.expiresAt <= now + 601n, `expiresAt ${res.expiresAt}`);
  const { mail, count } = await newestMail(email, mails);
  mails = count;
  firstCode = mail.code;
  assert(/^\d{6}$/.test(firstCode), `code ${firstCode}`);
  assert(mail.link.startsWith(`${magiclinkAuthUri}?`) && mail.link.includes("link_token="), `link ${mail.link}`);
});

await check("verify a wrong code fails with InvalidArgument", async () => {
  const wrong = firstCode === "000000" ? "111111" : "000000";
  await expectFailure(scalekit.passwordless.verifyPasswordlessEmail({ code: wrong }, authRequestId), INVALID_ARGUMENT, "invalid");
});

await check("resend keeps the authRequestId and mails a fresh code", async () => {
  await sleep(resendWait);
  const res = await scalekit.passwordless.resendPasswordlessEmail(authRequestId);
  assert(res.authRequestId === authRequestId, `authRequestId ${res.authRequestId}`);
  assert(res.passwordlessType === LINK_OTP, `passwordlessType ${res.passwordlessType}`);
  const { count } = await newestMail(email, mails);
  mails = count;
});

await check("verify the right code echoes state", async () => {
  const { mail } = await newestMail(email, mails - 1);
  const res = await scalekit.passwordless.verifyPasswordlessEmail({ code: mail.code }, authRequestId);
  assert(res.email === email, `email ${res.email}`);
  assert(res.state === state, `state ${res.state}`);
  assert(res.template === SIGNIN, `template ${res.template}`);
  assert(res.passwordlessType === LINK_OTP, `passwordlessType ${res.passwordlessType}`);
});

await check("a used code answers NotFound: auth request expired", async () => {
  const { mail } = await newestMail(email, mails - 1);
  await expectFailure(scalekit.passwordless.verifyPasswordlessEmail({ code: mail.code }, authRequestId), NOT_FOUND, "auth request expired");
});

await check("verify a magic-link token echoes state", async () => {
  const linkState = `${state}-link`;
  await scalekit.passwordless.sendPasswordlessEmail(linkEmail, { magiclinkAuthUri, state: linkState });
  const { mail } = await newestMail(linkEmail, 0);
  const linkToken = new URL(mail.link).searchParams.get("link_token");
  assert(linkToken, `link ${mail.link}`);
  const res = await scalekit.passwordless.verifyPasswordlessEmail({ linkToken });
  assert(res.email === linkEmail, `email ${res.email}`);
  assert(res.state === linkState, `state ${res.state}`);
});

await check("send without magiclinkAuthUri fails: magiclink_auth_uri is required", async () => {
  await expectFailure(scalekit.passwordless.sendPasswordlessEmail(`node-nouri-${stamp}@example.com`), INVALID_ARGUMENT, "magiclink_auth_uri is required");
});

await check("resend of an unknown request fails: auth request expired", async () => {
  await expectFailure(scalekit.passwordless.resendPasswordlessEmail("unknown-request"), NOT_FOUND, "auth request expired");
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

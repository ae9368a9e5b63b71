// Passkeys on Latch's pages (WebAuthn). Loaded only when passkeys are on,
// before app.js. Nothing works differently without it: the passkey blocks
// stay hidden and email signs in. With it, and a browser that can use
// passkeys:
//   - /login offers "Sign in with a passkey" and the browser's passkey
//     autofill on the email field (conditional mediation). Only one
//     request runs at a time: the autofill request is aborted before a
//     button's ceremony starts, and started again after it.
//   - after signing in by email, app.js asks offer() to suggest adding a
//     passkey, only on a device with an authenticator of its own (no one is
//     sent to a QR code) and only to someone who has none yet.
//   - the account page adds passkeys.
// The sentences come from the page (#passkey-text).
(function () {
  "use strict";
  var doc = document;
  var PKC = window.PublicKeyCredential;
  if (!PKC || !navigator.credentials || !window.fetch || !window.AbortController) return;

  var texts = {};
  var box = doc.getElementById("passkey-text");
  if (box && box.content) {
    var spans = box.content.querySelectorAll("[data-key]");
    for (var i = 0; i < spans.length; i++) texts[spans[i].getAttribute("data-key")] = spans[i].textContent;
  }
  function say(key) { return texts[key] || texts.error || ""; }

  // --- base64url, as the WebAuthn JSON forms (and go-webauthn) write bytes

  function toBytes(s) {
    s = String(s).replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function toB64(buf) {
    var b = new Uint8Array(buf), s = "";
    for (var i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function ids(list) {
    (list || []).forEach(function (c) { c.id = toBytes(c.id); });
    return list;
  }

  // credentialJSON is the PublicKeyCredential in the JSON shape of
  // WebAuthn Level 3's toJSON(), written out so that every browser sends
  // the same thing.
  function credentialJSON(c) {
    var r = c.response;
    var out = {
      id: c.id, rawId: toB64(c.rawId), type: c.type,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64(r.clientDataJSON) }
    };
    if (c.authenticatorAttachment) out.authenticatorAttachment = c.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = toB64(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = toB64(r.authenticatorData);
      out.response.signature = toB64(r.signature);
      if (r.userHandle) out.response.userHandle = toB64(r.userHandle);
    }
    return out;
  }

  function post(path, payload) {
    return fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(payload || {})
    }).then(function (res) {
      return res.json().then(null, function () { return {}; }).then(function (body) {
        return { ok: res.ok, status: res.status, body: body };
      });
    }, function () { return { ok: false, status: 0, body: { code: "network" } }; });
  }

  // problem is the message key for a failed ceremony: a browser error
  // (the person cancelled, the device already has one) or the server's.
  function problem(err) {
    if (err && err.name === "NotAllowedError") return "cancelled";
    if (err && err.name === "InvalidStateError") return "exists";
    var code = err && err.body && err.body.code;
    if (code === "expired") return "expired";
    if (code === "unauthorized") return "failed";
    return "error";
  }

  // show puts the message of key (none: clears it) under the passkey
  // button, which names it in aria-describedby; role=alert announces it.
  function show(key) {
    var el = doc.getElementById("passkey-error");
    if (!el) return;
    el.textContent = key ? say(key) : "";
    var button = doc.querySelector("section.step [data-action^=passkey-], #passkeys [data-action^=passkey-]");
    if (!button) return;
    if (key) button.setAttribute("aria-describedby", el.id);
    else button.removeAttribute("aria-describedby");
  }
  function notice(text) {
    var el = doc.querySelector("section.step [data-passkey-status]") || doc.querySelector("section.step [data-notice]");
    if (el) el.textContent = text;
  }

  // --- signing in on /login

  var root = doc.getElementById("login");
  var redirectTo = root ? root.getAttribute("data-redirect-to") || "" : "";
  var current = null;   // the AbortController of the request under way
  var refresh = null;   // the timer that renews the autofill request's challenge

  function stop() {
    if (refresh) clearTimeout(refresh);
    refresh = null;
    if (current) current.abort();
    current = null;
  }

  // signIn runs one sign-in ceremony: conditional for the email field's
  // autofill, else modal (the button). The browser offers the passkeys
  // it has for this site: no address is typed, allowCredentials is empty.
  function signIn(conditional) {
    stop();
    var ctl = new AbortController();
    current = ctl;
    if (!conditional) show("");
    var payload = redirectTo ? { redirectTo: redirectTo } : {};
    var started = false; // options came: a failure after that may be retried
    var rpId = "", used = "";
    return post("/api/auth/passkey/login/options", payload).then(function (r) {
      if (!r.ok) throw r;
      started = true;
      if (ctl.signal.aborted) throw { name: "AbortError" };
      var opts = r.body.publicKey;
      rpId = opts.rpId;
      opts.challenge = toBytes(opts.challenge);
      ids(opts.allowCredentials);
      if (conditional && opts.timeout > 30000) {
        // The challenge lives as long as the timeout: renew the request
        // a little before, so that autofill picked later still works.
        refresh = setTimeout(function () { if (current === ctl) signIn(true); }, opts.timeout - 20000);
      }
      var req = { publicKey: opts, signal: ctl.signal };
      if (conditional) req.mediation = "conditional";
      return navigator.credentials.get(req);
    }).then(function (cred) {
      if (current === ctl) { current = null; stop(); }
      if (!cred) throw { name: "NotAllowedError" };
      used = cred.id;
      notice(say("signing_in"));
      return post("/api/auth/passkey/login/verify", { credential: credentialJSON(cred) });
    }).then(function (r) {
      if (!r.ok && r.body && r.body.details && r.body.details.unknownCredential && PKC.signalUnknownCredential) {
        // Removed from the account: the browser or password manager
        // stops offering it.
        PKC.signalUnknownCredential({ rpId: rpId, credentialId: used }).then(null, function () { /* best effort */ });
      }
      if (!r.ok) throw r;
      window.location.assign(r.body.redirectTo || "/");
    }).then(null, function (err) {
      if (err && err.name === "AbortError") return; // another request took over
      if (current === ctl) current = null;
      notice("");
      if (!conditional || (err && err.body)) show(problem(err));
      // After the button's ceremony the email field offers passkeys again.
      // A failed autofill request is not started again by itself: the
      // browser may refuse it at once, and would be asked for ever.
      if (!conditional && started) autofill();
    });
  }

  function autofill() {
    if (!PKC.isConditionalMediationAvailable) return;
    PKC.isConditionalMediationAvailable().then(function (ok) {
      var email = doc.querySelector("#email");
      if (ok && email && /\bwebauthn\b/.test(email.getAttribute("autocomplete") || "") && !current) signIn(true);
    }, function () { /* no autofill: the button stays */ });
  }

  // wireLogin shows the passkey block of the email step on the page.
  function wireLogin() {
    var block = doc.querySelector("section.step [data-passkey]");
    if (!block) { stop(); return; }
    block.hidden = false;
    var button = block.querySelector("[data-action=passkey-login]");
    if (button) button.addEventListener("click", function () { signIn(false); });
    autofill();
  }

  // --- adding a passkey

  function register() {
    show("");
    return post("/api/auth/passkey/register/options").then(function (r) {
      if (!r.ok) throw r;
      var opts = r.body.publicKey;
      opts.challenge = toBytes(opts.challenge);
      opts.user.id = toBytes(opts.user.id);
      ids(opts.excludeCredentials);
      return navigator.credentials.create({ publicKey: opts });
    }).then(function (cred) {
      if (!cred) throw { name: "NotAllowedError" };
      return post("/api/auth/passkey/register/verify", { credential: credentialJSON(cred) });
    }).then(function (r) {
      if (!r.ok) throw r;
      return r.body.passkey;
    });
  }

  function busy(button, on) {
    if (!button) return;
    button.disabled = on;
    if (on) button.setAttribute("aria-busy", "true");
    else button.removeAttribute("aria-busy");
  }

  // offer suggests a passkey after an email sign-in, then goes on to
  // target. It resolves to false (and does nothing) when it has nothing
  // to offer: no authenticator on this device, a passkey already there,
  // or the person said "not now" before in this browser.
  function offer(target) {
    var tpl = doc.getElementById("passkey-step");
    var section = doc.querySelector("section.step");
    var dismissed = false;
    try { dismissed = localStorage.getItem("latch:passkey-offer") === "no"; } catch (e) { /* private mode */ }
    if (!tpl || !section || dismissed || !PKC.isUserVerifyingPlatformAuthenticatorAvailable) return Promise.resolve(false);
    return PKC.isUserVerifyingPlatformAuthenticatorAvailable().then(function (here) {
      if (!here) return false;
      return fetch("/api/auth/passkeys", { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (res) {
        return res.ok ? res.json() : null;
      }).then(function (body) {
        if (!body || !body.passkeys || body.passkeys.length > 0) return false;
        stop();
        var step = tpl.content.firstElementChild.cloneNode(true);
        section.parentNode.replaceChild(step, section);
        doc.title = tpl.getAttribute("data-title") + (doc.title.indexOf(" · ") > 0 ? doc.title.slice(doc.title.indexOf(" · ")) : "");
        var add = step.querySelector("[data-action=passkey-add]");
        var skip = step.querySelector("[data-action=passkey-skip]");
        add.addEventListener("click", function () {
          busy(add, true);
          register().then(function () {
            notice(say("added"));
            window.location.assign(target);
          }, function (err) {
            busy(add, false);
            show(problem(err));
          });
        });
        skip.addEventListener("click", function () {
          try { localStorage.setItem("latch:passkey-offer", "no"); } catch (e) { /* private mode */ }
          window.location.assign(target);
        });
        var h = step.querySelector("h1");
        if (h) { h.setAttribute("tabindex", "-1"); h.focus(); }
        return true;
      });
    }).then(null, function () { return false; });
  }

  // --- the account page

  var account = doc.querySelector("#passkeys [data-passkey]");
  if (account) {
    account.hidden = false;
    var add = account.querySelector("[data-action=passkey-add]");
    add.addEventListener("click", function () {
      busy(add, true);
      register().then(function () {
        window.location.assign("/?passkey=added#passkeys");
      }, function (err) {
        busy(add, false);
        show(problem(err));
      });
    });
  }

  window.latchPasskeys = {
    // mounted tells of a step app.js has put on the login page.
    mounted: wireLogin,
    offer: offer
  };
  if (root) wireLogin();
})();

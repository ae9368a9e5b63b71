// Progressive enhancement for Latch's pages. Every page works without this
// file: the forms post to the server, which re-renders them. With it, the
// login page calls the JSON API instead (no reloads), takes a pasted code,
// signs in when the last digit is typed, counts down to the next resend,
// and notices when the link was used in another tab or on another device.
// The sentences come from the page (data-messages), in the page's
// language, so they read the same as without JavaScript; plural forms are
// chosen with Intl.PluralRules and numbers written in the page's digits
// (data-numerals), as the server does.
(function () {
  "use strict";
  var doc = document;

  // The magic-link page, in the browser that asked for the email, finishes
  // signing in by itself.
  var auto = doc.querySelector("form[data-autosubmit]");
  if (auto) {
    var status = auto.querySelector("[data-autosubmit-status]");
    if (status && auto.getAttribute("data-signing-in")) status.textContent = auto.getAttribute("data-signing-in");
    var button = auto.querySelector("button");
    if (button) button.setAttribute("aria-busy", "true");
    auto.submit();
    return;
  }

  var root = doc.getElementById("login");
  if (!root || !window.fetch || !window.JSON || !("content" in doc.createElement("template"))) return;

  var messages = {};
  try { messages = JSON.parse(root.getAttribute("data-messages")) || {}; } catch (e) { /* keep the forms */ }
  var codeLength = parseInt(root.getAttribute("data-code-length"), 10) || 6;
  var cooldown = parseInt(root.getAttribute("data-resend-cooldown"), 10) || 30;
  var appName = root.getAttribute("data-app-name") || "";
  var redirectTo = root.getAttribute("data-redirect-to") || "";
  var lang = root.getAttribute("data-lang") || doc.documentElement.lang || "en";
  var digitChars = root.getAttribute("data-numerals") || "0123456789";
  var locale = root.getAttribute("data-locale") || "";
  var plurals = null;
  try { plurals = new Intl.PluralRules(lang); } catch (e) { /* "other" for every number */ }
  var countdown = null; // the running resend countdown's interval
  var watching = null;  // the timer of the next status check
  var busy = false;

  // number writes a whole number in the page's digits.
  function number(n) {
    return String(n).replace(/[0-9]/g, function (d) { return digitChars.charAt(+d) || d; });
  }

  // say is the page's sentence key with vars filled in; a sentence with
  // plural forms takes the one the language's rules give vars.n.
  function say(key, vars) {
    var text = messages[key] || messages.internal || "";
    if (text && typeof text === "object") {
      var n = vars && typeof vars.n === "number" ? vars.n : NaN;
      var form = plurals && !isNaN(n) ? plurals.select(n) : "other";
      text = text["=" + n] || text[form] || text.other || "";
    }
    return text.replace(/\{(\w+)\}/g, function (m, name) {
      var v = vars && vars[name];
      if (v == null) return m;
      return typeof v === "number" ? number(v) : String(v);
    });
  }

  // waitWords matches waitWords in languages.go.
  function waitWords(sec) {
    if (!(sec > 0)) return say("wait_moment");
    if (sec < 90) return say("wait_seconds", { n: sec });
    return say("wait_minutes", { n: Math.ceil(sec / 60) });
  }

  function digits(s) { return String(s || "").replace(/\D/g, ""); }

  // problemFor decides where an error of the JSON API shows and what it
  // says, as problem in pages.go does for the forms. action is "send",
  // "verify" or "resend"; input is what the person typed.
  function problemFor(action, body, retryAfter, input) {
    var code = body && body.code || "internal";
    var details = body && body.details || {};
    var wait = retryAfter > 0 ? retryAfter : details.retryAfter;
    var p = { step: "code", field: action === "resend" ? "resend" : "code" };
    if (action === "send") p = { step: "email", field: "email" };
    function toEmail() { p.step = "email"; p.field = "email"; }
    var key = code, left = details.attemptsRemaining;
    switch (code) {
      case "invalid_email":
        if (!String(input || "").trim()) key = "email_missing";
        break;
      case "invalid_request":
        if (action === "verify" && !String(input || "").trim()) key = "code_missing";
        break;
      case "invalid_code":
        if (typeof left !== "number") key = digits(input).length !== codeLength ? "code_format" : "invalid_code";
        else if (left <= 0) { key = "locked"; toEmail(); }
        else key = "invalid_code_left";
        break;
      case "too_many_attempts":
        key = wait > 0 ? "locked_wait" : "locked";
        toEmail();
        break;
      case "expired":
        if (action === "resend") key = "expired_resend";
        toEmail();
        break;
      case "rate_limited":
        if (action === "resend") key = "resend_wait";
        else if (action === "send") key = "send_limited";
        break;
      case "upstream_error":
        key = "unavailable";
        break;
      case "payload_too_large": case "unsupported_media_type": case "not_found":
      case "method_not_allowed": case "unauthorized":
        key = "invalid_request";
        break;
    }
    if (!messages[key]) key = "internal";
    var n = key === "code_missing" || key === "code_format" ? codeLength : left;
    p.text = say(key, { n: n, wait: waitWords(wait) });
    p.wait = wait || 0;
    return p;
  }

  // post calls the JSON API and resolves to {ok, status, body, retryAfter};
  // a network failure resolves with status 0.
  function post(path, payload) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(payload)
    }).then(function (res) {
      var retryAfter = parseInt(res.headers.get("Retry-After"), 10) || 0;
      return res.json().then(null, function () { return {}; }).then(function (body) {
        return { ok: res.ok, status: res.status, body: body, retryAfter: retryAfter };
      });
    }, function () {
      return { ok: false, status: 0, body: { code: "network" }, retryAfter: 0 };
    });
  }

  function remember(id, email) {
    try { if (id && email) sessionStorage.setItem("latch:" + id, email); } catch (e) { /* private mode */ }
  }
  function recall(id) {
    try { return id ? sessionStorage.getItem("latch:" + id) : null; } catch (e) { return null; }
  }

  function $(sel, el) { return (el || root).querySelector(sel); }

  // showError puts text next to field (the email or code input, or the
  // resend button), links it with aria-describedby and lets role=alert
  // announce it. An empty text clears it.
  function showError(field, text) {
    var box = doc.getElementById(field + "-error");
    var control = field === "resend" ? $("[data-resend-after]") : doc.getElementById(field);
    if (!box || !control) return;
    box.textContent = text || "";
    var ids = (control.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (id) {
      return id && id !== box.id;
    });
    if (text) ids.push(box.id);
    if (ids.length) control.setAttribute("aria-describedby", ids.join(" "));
    else control.removeAttribute("aria-describedby");
    if (field !== "resend") {
      if (text) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
    }
  }

  function setBusy(form, on) {
    busy = on;
    var b = form.querySelector("button[type=submit]");
    if (b) {
      if (on) b.setAttribute("aria-busy", "true");
      else b.removeAttribute("aria-busy");
    }
  }

  // mount swaps the visible step for a fresh copy of its template, fills
  // it in and moves the focus to where the person goes next.
  function mount(step, state) {
    var tpl = doc.getElementById(step + "-step");
    var current = $("section.step");
    if (!tpl || !current) return;
    var section = tpl.content.firstElementChild.cloneNode(true);
    current.parentNode.replaceChild(section, current);
    var title = tpl.getAttribute("data-title");
    if (title) doc.title = title + (appName ? " · " + appName : "");
    stopCountdown();
    stopWatching();
    if (step === "code") {
      var bound = $("[data-bind=email]");
      if (bound && state.email) bound.textContent = state.email;
      var fields = root.querySelectorAll("input[name=auth_request_id]");
      for (var i = 0; i < fields.length; i++) fields[i].value = state.id;
      fields = root.querySelectorAll("input[type=hidden][name=email]");
      for (i = 0; i < fields.length; i++) fields[i].value = state.email || "";
    } else if (state.email) {
      $("#email").value = state.email;
    }
    enhance();
    if (window.latchPasskeys) window.latchPasskeys.mounted();
    if (step === "code") watch();
    var focus = $(step === "code" ? "#code" : "#email");
    if (!focus) {
      // A link-only sign-in has no code to type: the heading takes the
      // focus, so a screen reader starts at "Check your email".
      focus = $("section.step h1");
      if (focus) focus.setAttribute("tabindex", "-1");
    }
    if (state.error) showError(state.error.field, state.error.text);
    if (focus) {
      focus.focus();
      if (step === "email" && focus.select) focus.select();
    }
  }

  function stopCountdown() {
    if (countdown) clearInterval(countdown);
    countdown = null;
  }

  // startCountdown keeps the resend button disabled for seconds, showing
  // how long is left on it.
  function startCountdown(seconds) {
    var button = $("[data-resend-after]");
    stopCountdown();
    if (!button) return;
    var end = Date.now() + seconds * 1000;
    function tick() {
      var left = Math.ceil((end - Date.now()) / 1000);
      if (left > 0) {
        button.disabled = true;
        button.textContent = say("resend_in", { n: left });
        button.setAttribute("data-countdown", String(left));
      } else {
        stopCountdown();
        button.disabled = false;
        button.textContent = say("resend");
        button.removeAttribute("data-countdown");
      }
    }
    tick();
    if (seconds > 0) countdown = setInterval(tick, 250);
  }

  // watch asks the server every few seconds, and at once when the tab
  // comes back into view, whether this browser's sign-in
  // went ahead elsewhere: the link opened in another tab signs this one
  // in too; opened on another device, this tab says so instead of letting
  // the code fail as "expired". The status speaks only of this browser
  // (its cookies), so polling leaks nothing.
  function watch() {
    stopWatching();
    watching = setTimeout(function () { checkStatus(false); }, 4000);
  }
  function stopWatching() {
    if (watching) clearTimeout(watching);
    watching = null;
  }
  // checkStatus resolves to the status ("pending", "signed_in", "gone" or
  // "" when unknown) after acting on it; with quiet, "gone" is left to the
  // caller.
  function checkStatus(quiet) {
    stopWatching();
    return fetch("/api/auth/passwordless/status", { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (res) {
      return res.ok ? res.json() : {};
    }).then(null, function () { return {}; }).then(function (body) {
      var st = body && body.status || "";
      if (!$("section.step[data-step=code]")) return st;
      if (st === "signed_in") {
        var notice = $("[data-notice]");
        if (notice) notice.textContent = say("signed_in_elsewhere");
        window.location.assign(redirectTo || body.redirectTo || "/");
      } else if (st === "gone") {
        if (!quiet) mount("email", { email: stepState().email, error: { field: "email", text: say("gone_elsewhere") } });
      } else {
        watch(); // browsers slow the timers of tabs out of view by themselves
      }
      return st;
    });
  }
  doc.addEventListener("visibilitychange", function () {
    if (!doc.hidden && $("section.step[data-step=code]")) checkStatus(false);
  });

  function stepState() {
    var id = $("input[name=auth_request_id]");
    var email = $("input[type=hidden][name=email]");
    return { id: id ? id.value : "", email: email ? email.value : "" };
  }

  function onSend(ev) {
    ev.preventDefault();
    var form = ev.currentTarget;
    if (busy) return;
    var email = $("#email").value.trim();
    if (!email) {
      showError("email", say("email_missing"));
      $("#email").focus();
      return;
    }
    var payload = { email: email };
    if (locale) payload.locale = locale;
    var redirect = form.querySelector("input[name=redirect_to]");
    if (redirect && redirect.value) payload.redirectTo = redirect.value;
    setBusy(form, true);
    post("/api/auth/passwordless/email/send", payload).then(function (r) {
      setBusy(form, false);
      if (r.ok && r.body.authRequestId) {
        remember(r.body.authRequestId, email);
        mount("code", { id: r.body.authRequestId, email: email });
        startCountdown(cooldown);
        return;
      }
      var p = problemFor("send", r.body, r.retryAfter, email);
      showError("email", p.text);
      $("#email").focus();
    });
  }

  function onVerify(ev) {
    if (ev) ev.preventDefault();
    var form = $("form[data-form=verify]");
    var input = $("#code");
    if (busy || !form || !input) return;
    var code = input.value;
    var st = stepState();
    if (!digits(code)) {
      showError("code", say("code_missing", { n: codeLength }));
      input.focus();
      return;
    }
    setBusy(form, true);
    post("/api/auth/passwordless/email/verify/code", { code: code, authRequestId: st.id }).then(function (r) {
      if (r.ok) {
        var status = $("[data-notice]");
        if (status) status.textContent = say("signing_in");
        var target = r.body.redirectTo || "/";
        // Signed in by email: passkeys.js may offer a passkey first.
        var offered = window.latchPasskeys ? window.latchPasskeys.offer(target) : Promise.resolve(false);
        offered.then(function (shown) {
          setBusy(form, false);
          if (!shown) window.location.assign(target);
        });
        return;
      }
      var p = problemFor("verify", r.body, r.retryAfter, code);
      if (r.body && r.body.code === "expired") {
        // Perhaps the link was used meanwhile: in this browser that means
        // signed in, elsewhere it says so.
        checkStatus(true).then(function (status) {
          setBusy(form, false);
          if (status !== "signed_in") mount("email", { email: st.email, error: p });
        });
        return;
      }
      setBusy(form, false);
      if (p.step === "email") {
        mount("email", { email: st.email, error: p });
        return;
      }
      showError("code", p.text);
      input.focus();
      input.select();
    });
  }

  function onResend(ev) {
    ev.preventDefault();
    var form = ev.currentTarget;
    if (busy) return;
    var st = stepState();
    setBusy(form, true);
    showError("resend", "");
    post("/api/auth/passwordless/email/resend", { authRequestId: st.id }).then(function (r) {
      setBusy(form, false);
      if (r.ok) {
        var notice = $("[data-notice]");
        if (notice) notice.textContent = say("resent");
        showError("code", "");
        var input = $("#code");
        input.value = "";
        input.focus();
        startCountdown(cooldown);
        return;
      }
      var p = problemFor("resend", r.body, r.retryAfter, "");
      if (p.step === "email") {
        mount("email", { email: st.email, error: p });
        return;
      }
      showError("resend", p.text);
      if (p.wait > 0) startCountdown(p.wait);
    });
  }

  // onCodeInput keeps only digits and signs in once the last one is typed
  // (or a password manager or the phone's keyboard fills the field).
  function onCodeInput(ev) {
    var input = ev.currentTarget;
    var d = digits(input.value);
    if (d !== input.value) input.value = d;
    if (d.length === codeLength) onVerify();
  }

  // onCodePaste takes a whole code out of whatever was pasted: "123456",
  // "123 456", "Your code is 123-456."
  function onCodePaste(ev) {
    var data = ev.clipboardData || window.clipboardData;
    var text = data ? data.getData("text") : "";
    var m = String(text).match(new RegExp("(?:^|\\D)((?:\\d[ \\-]?){" + (codeLength - 1) + "}\\d)(?!\\d)"));
    var code = m ? digits(m[1]) : digits(text);
    if (code.length !== codeLength) return;
    ev.preventDefault();
    ev.currentTarget.value = code;
    onVerify();
  }

  function onChangeEmail(ev) {
    ev.preventDefault();
    mount("email", { email: stepState().email });
  }

  // enhance wires the step on the page.
  function enhance() {
    var form = $("form[data-form=send]");
    if (form) form.addEventListener("submit", onSend);
    form = $("form[data-form=verify]");
    if (form) {
      form.addEventListener("submit", onVerify);
      var input = $("#code");
      input.addEventListener("input", onCodeInput);
      input.addEventListener("paste", onCodePaste);
    }
    form = $("form[data-form=resend]");
    if (form) form.addEventListener("submit", onResend);
    var change = $("[data-action=change-email]");
    if (change) change.addEventListener("click", onChangeEmail);
  }

  enhance();
  // A code step the server rendered (a reload, or a pending sign-in picked
  // up again): fill in the address if this tab knows it, and start the
  // countdown the server asked for.
  var resend = $("[data-resend-after]");
  if (resend) {
    var st = stepState();
    var known = recall(st.id);
    var bound = $("[data-bind=email]");
    if (known && !st.email) {
      if (bound) bound.textContent = known;
      var hidden = root.querySelectorAll("input[type=hidden][name=email]");
      for (var i = 0; i < hidden.length; i++) hidden[i].value = known;
    }
    var after = parseInt(resend.getAttribute("data-resend-after"), 10) || 0;
    if (after > 0) startCountdown(after);
    watch();
  }
})();

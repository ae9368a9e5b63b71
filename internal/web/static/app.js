// Progressive enhancement for Latch's pages. Everything works without it.
(function () {
  "use strict";
  // The magic-link page completes sign-in by itself in the browser that asked.
  var auto = document.querySelector("form[data-autosubmit]");
  if (auto) { auto.submit(); return; }

  // Resend countdown.
  var resend = document.querySelector("[data-resend-after]");
  if (resend) {
    var left = parseInt(resend.getAttribute("data-resend-after"), 10) || 0;
    var label = document.querySelector("[data-countdown]");
    var tick = function () {
      if (left > 0) {
        resend.disabled = true;
        if (label) label.textContent = "You can ask again in " + left + "s.";
        left--;
        setTimeout(tick, 1000);
      } else {
        resend.disabled = false;
        if (label) label.textContent = "";
      }
    };
    tick();
  }
})();

// Admin Webhooks dashboard: progressive enhancements only. Every page works without
// this script; it adds copy buttons, confirmations, auto-submitting filters and the live
// refresh of the activity log (re-fetching the log fragment every few seconds).
"use strict";
(function () {
  var REFRESH_MS = 3000;

  function copyText(text, button) {
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text) && done(); });
    } else if (fallbackCopy(text)) {
      done();
    }
  }

  // Outside a secure context (plain http on another host) the Clipboard API is missing.
  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }

  function enhance(root) {
    root.querySelectorAll("[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var source = document.getElementById(button.getAttribute("data-copy"));
        if (source) { copyText(source.textContent.trim(), button); }
      });
    });
    root.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
    root.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  function liveRefresh(region) {
    var url = region.getAttribute("data-refresh");
    var stopped = false;
    var showLive = function () {
      region.querySelectorAll("[data-live]").forEach(function (el) { el.hidden = false; });
    };
    var tick = function () {
      if (stopped) { return; }
      // Skip while hidden, or while a button in the log has focus (a retry about to be
      // pressed must not vanish under the pointer).
      var busy = region.contains(document.activeElement) && document.activeElement !== document.body;
      if (document.visibilityState !== "visible" || busy) {
        setTimeout(tick, REFRESH_MS);
        return;
      }
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) {
          if (response.status === 401) {
            stopped = true;
            region.insertAdjacentHTML("afterbegin",
              '<p class="notice notice-error" role="alert">Your session has ended. <a href="/dashboard/sign-in">Sign in again</a> to keep watching.</p>');
            return null;
          }
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          if (html !== null && html !== undefined) {
            region.innerHTML = html;
            region.setAttribute("data-refreshed", String(Date.now()));
            enhance(region);
            showLive();
          }
        })
        .catch(function () { /* the network blinked: try again next tick */ })
        .then(function () { if (!stopped) { setTimeout(tick, REFRESH_MS); } });
    };
    showLive();
    setTimeout(tick, REFRESH_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
    document.querySelectorAll("[data-refresh]").forEach(liveRefresh);
  });
})();

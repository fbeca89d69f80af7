// Admin Webhooks dashboard: progressive enhancements only. Every page works without
// this script; it adds copy buttons, confirmations, auto-submitting filters and the live
// refresh of the activity log (re-fetching the log fragment every few seconds and
// changing only the rows and blocks that differ, with a separate polite announcement of
// what changed).
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

  // The rows of a log, by delivery id.
  function rowsById(root) {
    var rows = {};
    root.querySelectorAll("tr[data-delivery]").forEach(function (row) {
      rows[row.getAttribute("data-delivery")] = row;
    });
    return rows;
  }

  // Brings `region` to the fetched `html` changing only what differs: a row whose
  // delivery is unchanged stays the same element, and so does any other block that is
  // unchanged, so assistive technology and the focus are left alone. Returns sentences
  // saying what changed (new deliveries, new statuses).
  function morph(region, html) {
    // Parsed in an element like the region itself, so that rows of a <tbody> region
    // stay rows (inside a <div> the HTML parser drops <tr> and <td> tags).
    var next = document.createElement(region.tagName);
    next.innerHTML = html;
    next.querySelectorAll("[data-live]").forEach(function (el) { el.hidden = false; });
    var before = rowsById(region);
    var news = [];
    var after = rowsById(next);
    Object.keys(after).forEach(function (id) {
      var row = after[id];
      var type = (row.querySelector("code") || row).textContent.trim();
      var status = row.getAttribute("data-status");
      if (!before[id]) {
        news.push("New delivery of " + type + ": " + status + ".");
      } else if (before[id].getAttribute("data-status") !== status) {
        news.push("Delivery of " + type + " is now " + status + ".");
      }
    });
    var oldBlocks = region.children;
    var newBlocks = next.children;
    var sameShape = oldBlocks.length === newBlocks.length;
    for (var i = 0; sameShape && i < newBlocks.length; i++) {
      sameShape = oldBlocks[i].tagName === newBlocks[i].tagName &&
        oldBlocks[i].className === newBlocks[i].className;
    }
    if (!sameShape) {
      region.innerHTML = next.innerHTML;
      enhance(region);
      return news;
    }
    Array.prototype.slice.call(newBlocks).forEach(function (block, i) {
      var old = oldBlocks[i];
      var oldBody = old.querySelector("tbody");
      var newBody = block.querySelector("tbody");
      var keyed = function (body) {
        return body && body.querySelectorAll("tr:not([data-delivery])").length === 0;
      };
      if (keyed(oldBody) && keyed(newBody)) {
        morphRows(oldBody, newBody);
      } else if (old.outerHTML !== block.outerHTML) {
        region.replaceChild(block.cloneNode(true), old);
        enhance(region.children[i]);
      }
    });
    return news;
  }

  // Replaces only the rows that changed, keeps the order of `fresh`.
  function morphRows(body, fresh) {
    var kept = rowsById(body);
    var wanted = [];
    fresh.querySelectorAll("tr[data-delivery]").forEach(function (row) {
      var old = kept[row.getAttribute("data-delivery")];
      if (old && old.outerHTML === row.outerHTML) {
        wanted.push(old);
      } else {
        var copy = row.cloneNode(true);
        enhance(copy);
        wanted.push(copy);
      }
    });
    Array.prototype.slice.call(body.children).forEach(function (row) {
      if (wanted.indexOf(row) < 0) { body.removeChild(row); }
    });
    wanted.forEach(function (row, i) {
      if (body.children[i] !== row) { body.insertBefore(row, body.children[i] || null); }
    });
  }

  // Says what changed in the region's announcer (a polite live region of its own), and
  // nothing when nothing did.
  function announce(region, news) {
    var id = region.getAttribute("data-announcer");
    var announcer = id && document.getElementById(id);
    if (announcer && news.length) { announcer.textContent = news.join(" "); }
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
            var news = morph(region, html);
            region.setAttribute("data-refreshed", String(Date.now()));
            showLive();
            announce(region, news);
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

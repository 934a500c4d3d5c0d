/*
 * The status widget for other sites. Add to any page:
 *
 *   <script src="https://status.example.com/embed.js" async></script>
 *
 * While something is wrong (an open incident, maintenance in progress, a component not
 * operational) a small notice in the bottom corner names it and links to its page; when all is
 * well nothing is shown. The status is read from /api/v2/summary.json on the status page's own
 * origin (the one this script came from) and read again every minute while the tab is visible.
 * A dismissed notice stays hidden for the tab's session until something else goes wrong.
 *
 * It needs nothing from the host page: no other script, no stylesheet, no inline style (styles
 * are set through the CSSOM, which a Content-Security-Policy without 'unsafe-inline' allows; the
 * host's CSP needs the status page's origin in script-src and connect-src). Every text is set
 * with textContent, and no error reaches the host page. After each check the script tag gets
 * data-status: the page's indicator (none, minor, major, critical, maintenance) or "unknown".
 */
(function () {
  "use strict";
  try {
    var script = document.currentScript;
    if (!script || !script.src || !window.fetch || !window.URL) return;
    var origin = new URL(script.src, location.href).origin;
    var marker = "statuspageEmbed " + origin;
    if (window[marker]) return; // included twice: one notice is enough
    window[marker] = true;
  } catch (e) {
    return;
  }

  var CHECK_EVERY = 60000;
  var STORAGE_KEY = "statuspage-embed-dismissed " + origin;
  var COLOURS = { none: "#1a7f37", minor: "#9a6700", major: "#bc4c00", critical: "#cf222e", maintenance: "#0969da" };
  var STATUS_WORDS = {
    investigating: "Investigating", identified: "Identified", monitoring: "Monitoring", resolved: "Resolved",
    postmortem: "Postmortem", in_progress: "Maintenance in progress", verifying: "Maintenance: verifying"
  };
  var host = null; // the notice's element in the host page, while shown
  var timer = null;
  var lastCheck = 0;

  function css(element, styles) {
    for (var name in styles) {
      if (Object.prototype.hasOwnProperty.call(styles, name)) element.style.setProperty(name, styles[name]);
    }
    return element;
  }

  function make(tag, styles, text) {
    var element = css(document.createElement(tag), styles || {});
    if (text) element.textContent = text;
    return element;
  }

  function readDismissed() {
    try { return window.sessionStorage.getItem(STORAGE_KEY); } catch (e) { return null; }
  }

  function writeDismissed(key) {
    try { window.sessionStorage.setItem(STORAGE_KEY, key); } catch (e) { /* storage refused: dismissed for this view */ }
  }

  // What is wrong, as lines: [text, status words, address] — empty when all is well.
  function problems(summary) {
    var lines = [];
    (summary.incidents || []).forEach(function (incident) {
      lines.push([String(incident.name || "Incident"), STATUS_WORDS[incident.status] || String(incident.status || ""),
        origin + "/incidents/" + encodeURIComponent(String(incident.id))]);
    });
    (summary.scheduled_maintenances || []).forEach(function (m) {
      if (m.status === "in_progress" || m.status === "verifying") {
        lines.push([String(m.name || "Maintenance"), STATUS_WORDS[m.status], origin + "/"]);
      }
    });
    var indicator = summary.status && summary.status.indicator;
    if (!lines.length && indicator && indicator !== "none") {
      lines.push([String(summary.status.description || "Service disruption"), "", origin + "/"]);
    }
    return lines;
  }

  function remove() {
    if (host && host.parentNode) host.parentNode.removeChild(host);
    host = null;
  }

  function show(summary, lines, key) {
    remove();
    var indicator = (summary.status && summary.status.indicator) || "minor";
    var colour = COLOURS[indicator] || COLOURS.minor;
    host = make("div", {
      position: "fixed", right: "16px", bottom: "16px", "z-index": "2147483000",
      "max-width": "min(360px, calc(100vw - 32px))", margin: "0", padding: "0"
    });
    host.id = "statuspage-embed";
    // A shadow root keeps the host page's styles off the notice (and the notice's off the page).
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    var box = make("div", {
      position: "relative", "box-sizing": "border-box", padding: "12px 40px 12px 14px",
      background: "#ffffff", color: "#1b1f24", "border-left": "5px solid " + colour, "border-radius": "8px",
      "box-shadow": "0 4px 16px rgba(0,0,0,.25)", font: "14px/1.4 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
      "text-align": "left"
    });
    box.setAttribute("role", "status");
    var page = (summary.page && summary.page.name) || "Status";
    box.appendChild(make("strong", { display: "block", "margin-bottom": "4px" },
      page + ": " + String((summary.status && summary.status.description) || "")));
    lines.slice(0, 3).forEach(function (line) {
      var row = make("div", { margin: "2px 0" });
      var link = make("a", { color: "#0969da", "text-decoration": "underline" }, line[0]);
      link.href = line[2];
      link.target = "_blank";
      link.rel = "noopener";
      row.appendChild(link);
      if (line[1]) row.appendChild(make("span", { color: "#57606a" }, " · " + line[1]));
      box.appendChild(row);
    });
    if (lines.length > 3) {
      var more = make("a", { color: "#0969da" }, "and " + (lines.length - 3) + " more");
      more.href = origin + "/";
      more.target = "_blank";
      more.rel = "noopener";
      box.appendChild(more);
    }
    var close = make("button", {
      position: "absolute", top: "6px", right: "6px", width: "28px", height: "28px", padding: "0",
      border: "0", background: "transparent", color: "#57606a", font: "20px/28px sans-serif", cursor: "pointer"
    }, "\u00d7");
    close.type = "button";
    close.setAttribute("aria-label", "Dismiss");
    close.addEventListener("click", function () {
      writeDismissed(key);
      remove();
    });
    box.appendChild(close);
    root.appendChild(box);
    (document.body || document.documentElement).appendChild(host);
  }

  function update(summary) {
    var lines = problems(summary);
    script.setAttribute("data-status", String((summary.status && summary.status.indicator) || "unknown"));
    if (!lines.length) {
      remove();
      return;
    }
    // The same trouble in the same state stays dismissed; anything new is shown again.
    var key = lines.map(function (line) { return line[2] + " " + line[1]; }).join("|");
    if (readDismissed() === key) {
      remove();
      return;
    }
    if (host && host.getAttribute("data-key") === key) return;
    show(summary, lines, key);
    host.setAttribute("data-key", key);
  }

  function check() {
    timer = null;
    if (document.hidden) return; // checked again when the tab is shown
    lastCheck = Date.now();
    fetch(origin + "/api/v2/summary.json", { mode: "cors", credentials: "omit", cache: "no-cache" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(update)
      .catch(function () {
        try { script.setAttribute("data-status", "unknown"); } catch (e) { /* nothing to tell */ }
      })
      .then(schedule);
  }

  function schedule() {
    if (timer === null) timer = window.setTimeout(check, CHECK_EVERY);
  }

  try {
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && Date.now() - lastCheck >= CHECK_EVERY) {
        if (timer !== null) window.clearTimeout(timer);
        timer = null;
        check();
      }
    });
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", check);
    } else {
      check();
    }
  } catch (e) {
    /* never an error in the host page */
  }
})();

/*
 * Keeps the status page (/) and an incident's page (/incidents/ID) current without a reload.
 *
 * Every 30 seconds (?poll=SECONDS on the page's address, 1 to 3600, sets another interval) it
 * asks for the page's JSON twin with If-None-Match; a 304 means nothing changed. When it did
 * change, the page's HTML is fetched and the main content and footer are replaced, keeping the
 * status banner's element (its aria-live change is announced) and which component groups are
 * open. It waits while the tab is hidden and checks at once when the tab is shown again; an
 * incident's page stops asking once the incident is resolved. Without JavaScript the page is the
 * same, only read when loaded.
 */
(function () {
  "use strict";
  if (!window.fetch || !window.DOMParser || !window.URLSearchParams) return;
  var path = location.pathname;
  var twin = path === "/" ? "/index.json" : /^\/incidents\/[^/]+$/.test(path) ? path + ".json" : null;
  if (!twin) return;
  var asked = Number(new URLSearchParams(location.search).get("poll"));
  var every = (asked >= 1 && asked <= 3600 ? asked : 30) * 1000;
  var FINISHED = ["resolved", "postmortem", "completed"];

  var etag = null;
  var timer = null;
  var busy = false;
  var stopped = false;
  var failures = 0;

  function finished(data) {
    return Boolean(data && data.incident && FINISHED.indexOf(data.incident.status) >= 0);
  }

  function adopt(nodes) {
    return Array.prototype.slice.call(nodes).map(function (node) { return document.adoptNode(node); });
  }

  function openGroups(main) {
    var open = {};
    main.querySelectorAll("details.group").forEach(function (group) {
      var summary = group.querySelector("summary");
      if (summary) open[summary.textContent.trim()] = group.open;
    });
    return open;
  }

  function swap(fresh) {
    var main = document.getElementById("main");
    var next = fresh.getElementById("main");
    if (!main || !next) return;
    var open = openGroups(main);
    var banner = main.querySelector(".banner");
    var nextBanner = next.querySelector(".banner");
    var keep = banner && nextBanner && banner.parentNode === main && nextBanner.parentNode === next;
    if (keep) {
      // Update the live region in place: a replaced element would not be announced.
      banner.className = nextBanner.className;
      if (banner.textContent !== nextBanner.textContent) banner.replaceChildren.apply(banner, adopt(nextBanner.childNodes));
    }
    Array.prototype.slice.call(main.childNodes).forEach(function (node) {
      if (!keep || node !== banner) main.removeChild(node);
    });
    var before = keep;
    adopt(next.childNodes).forEach(function (node) {
      if (keep && node === nextBanner) {
        before = false;
      } else if (before) {
        main.insertBefore(node, banner);
      } else {
        main.appendChild(node);
      }
    });
    main.querySelectorAll("details.group").forEach(function (group) {
      var summary = group.querySelector("summary");
      var name = summary && summary.textContent.trim();
      if (name && Object.prototype.hasOwnProperty.call(open, name)) group.open = open[name];
    });
    var footer = document.querySelector(".site-footer");
    var nextFooter = fresh.querySelector(".site-footer");
    if (footer && nextFooter) footer.replaceWith(document.adoptNode(nextFooter));
    if (fresh.title) document.title = fresh.title;
  }

  function reload() {
    return fetch(location.pathname + location.search, { cache: "no-cache", credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) { swap(new DOMParser().parseFromString(html, "text/html")); });
  }

  function poll() {
    timer = null;
    if (stopped || busy || document.hidden) return; // a shown tab asks again
    busy = true;
    var first = etag === null;
    var headers = first ? {} : { "If-None-Match": etag };
    fetch(twin, { cache: "no-store", credentials: "same-origin", headers: headers })
      .then(function (response) {
        if (response.status === 304) return null;
        if (!response.ok) {
          if (first && response.status >= 400 && response.status < 500) stopped = true; // no such page
          throw new Error("HTTP " + response.status);
        }
        etag = response.headers.get("ETag");
        return response.json().then(function (data) {
          if (finished(data)) stopped = true;
          return first ? null : reload(); // the first answer is what the page already shows
        });
      })
      .then(function () { failures = 0; }, function () { failures += 1; })
      .then(function () {
        busy = false;
        schedule();
      });
  }

  function schedule() {
    if (stopped || timer !== null) return;
    // Longer waits after failures; a little jitter so that open pages do not ask in step.
    var wait = every * Math.min(Math.pow(2, failures), 10) * (0.9 + Math.random() * 0.2);
    timer = window.setTimeout(poll, wait);
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && timer === null && !busy) poll();
  });
  poll();
})();

/* Shared helpers for the Disco status pages (vanilla JS, no build step).
 *
 * Every node is built with el(), which only ever sets textContent and
 * attributes: job names, event text and tag names are never parsed as HTML.
 */
"use strict";

const Disco = (function () {
  const MAX_FILTER = 200;

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of [].concat(children || [])) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function replaceChildren(parent, children) {
    const fragment = document.createDocumentFragment();
    for (const child of children) fragment.append(child);
    parent.replaceChildren(fragment);
  }

  class HttpError extends Error {
    constructor(status, body, path) {
      super(body ? body : "HTTP " + status + " from " + path);
      this.status = status;
      this.path = path;
    }
  }

  async function request(method, path, params, body) {
    let url = path;
    if (params) {
      const query = new URLSearchParams();
      for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) query.set(k, v);
      const text = query.toString();
      if (text) url += (url.includes("?") ? "&" : "?") + text;
    }
    const options = {method: method, headers: {}, cache: "no-store"};
    // a cluster with a secret refuses a state change without the login's CSRF twin
    const csrf = document.cookie.split("; ").find((c) => c.startsWith("disco_csrf="));
    if (csrf && method !== "GET") options.headers["X-Disco-CSRF"] = csrf.slice("disco_csrf=".length);
    if (body !== undefined) {
      options.body = JSON.stringify(body);
      options.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(url, options);
    const text = await response.text();
    if (!response.ok) throw new HttpError(response.status, errorText(text), path);
    if (!text) return "";
    try { return JSON.parse(text); } catch (e) { return text; }
  }

  function errorText(text) {
    let value = text;
    try { value = JSON.parse(text); } catch (e) { /* plain text error */ }
    if (value && typeof value === "object") value = value.message || value.error || JSON.stringify(value);
    return String(value || "").slice(0, 500);
  }

  const api = {
    get: (path, params) => request("GET", path, params),
    post: (path, body, params) => request("POST", path, params, body),
  };

  /* A message banner at the top of the page; one per key, replaced on update. */
  function showMessage(key, text, kind) {
    const box = document.getElementById("messages");
    if (!box) return;
    let item = box.querySelector('[data-key="' + CSS.escape(key) + '"]');
    if (!text) { if (item) item.remove(); return; }
    if (!item) {
      item = el("div", {class: "message", dataset: {key: key}, role: "alert"});
      box.append(item);
    }
    item.className = "message " + (kind || "error");
    replaceChildren(item, [el("span", {text: text}),
      el("button", {class: "close", title: "dismiss", text: "\u00d7", onclick: () => item.remove()})]);
  }

  /* Poll fn every `every` ms until it returns "stop"; pauses while the tab is hidden. */
  function poll(fn, every) {
    let timer = null;
    let stopped = false;
    async function tick() {
      timer = null;
      if (stopped) return;
      if (document.hidden) { timer = setTimeout(tick, every); return; }
      let result;
      try { result = await fn(); } catch (e) { console.error(e); }
      if (result === "stop") { stopped = true; return; }
      if (!stopped) timer = setTimeout(tick, every);
    }
    tick();
    return {
      stop() { stopped = true; if (timer) clearTimeout(timer); },
      now() { if (timer) clearTimeout(timer); if (!stopped) tick(); },
    };
  }

  function refreshInterval() {
    const value = Number(new URLSearchParams(location.search).get("refresh"));
    return value > 0 ? value * 1000 : 2000;
  }

  function formatKB(kb) {
    let value = Number(kb) * 1024;
    const units = ["B", "KB", "MB", "GB", "TB", "PB"];
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
    return (value >= 100 || unit === 0 ? value.toFixed(0) : value.toFixed(1)) + " " + units[unit];
  }

  function formatDuration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (h) return h + "h " + m + "m " + s + "s";
    if (m) return m + "m " + s + "s";
    return s + "s";
  }

  /* "YYYY/MM/DD HH:MM:SS" (master local time) -> Date */
  function parseStamp(stamp) {
    const m = /^(\d{4})\/(\d\d)\/(\d\d) (\d\d):(\d\d):(\d\d)/.exec(stamp || "");
    if (!m) return null;
    return new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  }

  function formatUnix(secs) {
    const d = new Date(Number(secs) * 1000);
    const p = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "/" + p(d.getMonth() + 1) + "/" + p(d.getDate()) + " " +
      p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
  }

  /* disco://HOST/path and dir://HOST/path -> http URL on that host's DISCO_PORT. */
  function httpUrl(url) {
    const m = /^(disco|dir):\/\/([^/]+)(\/.*)$/.exec(url || "");
    if (!m) return /^https?:\/\//.test(url || "") ? url : null;
    const port = location.port ? ":" + location.port : "";
    return location.protocol + "//" + m[2] + port + m[3];
  }

  function urlLink(url) {
    if (/^tag:\/\//.test(url)) {
      const name = url.replace(/^tag:\/\/([^/]*\/)?/, "");
      return el("a", {href: "ddfs.html?tag=" + encodeURIComponent(name), class: "url", text: url});
    }
    const href = httpUrl(url);
    return href ? el("a", {href: href, class: "url", text: url}) : el("span", {class: "url", text: url});
  }

  function jobLink(name) {
    return el("a", {href: "job.html?name=" + encodeURIComponent(name), class: "jobname", text: name});
  }

  /* Nav bar highlight and the version in the footer. */
  async function initChrome() {
    const page = document.body.dataset.page;
    for (const link of document.querySelectorAll("nav a[data-page]"))
      if (link.dataset.page === page) link.classList.add("current");
    try {
      const version = await api.get("/disco/version");
      for (const node of document.querySelectorAll(".version")) node.textContent = "Disco " + version;
    } catch (e) { /* the page shows its own errors */ }
  }

  /* A modal confirmation (a <dialog>), resolving to true or false. */
  function confirmDialog(title, text, actionLabel) {
    return new Promise((resolve) => {
      const dialog = el("dialog", {class: "confirm"}, [
        el("h3", {text: title}),
        el("p", {text: text}),
        el("div", {class: "buttons"}, [
          el("button", {class: "cancel", text: "Cancel", value: "cancel"}),
          el("button", {class: "danger ok", text: actionLabel || "OK", value: "ok"}),
        ]),
      ]);
      dialog.querySelector(".cancel").addEventListener("click", () => dialog.close("cancel"));
      dialog.querySelector(".ok").addEventListener("click", () => dialog.close("ok"));
      dialog.addEventListener("close", () => { dialog.remove(); resolve(dialog.returnValue === "ok"); });
      document.body.append(dialog);
      dialog.showModal();
    });
  }

  document.addEventListener("DOMContentLoaded", initChrome);

  return {el, replaceChildren, api, HttpError, showMessage, poll, refreshInterval, formatKB,
          formatDuration, parseStamp, formatUnix, httpUrl, urlLink, jobLink, confirmDialog, MAX_FILTER};
})();

/* DDFS browser (data: /ddfs/tags/<prefix>, /ddfs/tag/<tag>). Tokens are never requested or shown. */
"use strict";
(function () {
  const {el, replaceChildren, api, showMessage, urlLink} = Disco;
  const MAX_TAGS = 2000;
  const NAME = /^[A-Za-z0-9_\-@:]{1,511}$/;
  let currentTag = null;

  function tagHref(tag) { return "ddfs.html?tag=" + encodeURIComponent(tag); }

  async function listTags(prefix) {
    if (prefix && !NAME.test(prefix)) {
      showMessage("tags", "Invalid prefix: tag names use only letters, digits and _ - @ : (at most 511 characters).");
      return;
    }
    let tags;
    try {
      tags = await api.get("/ddfs/tags" + (prefix ? "/" + encodeURIComponent(prefix) : ""));
      showMessage("tags", null);
    } catch (e) { showMessage("tags", "Could not list tags: " + e.message); return; }
    tags.sort();
    document.getElementById("tag-count").textContent = tags.length + (prefix ? " with prefix \u201c" + prefix + "\u201d" : "");
    const links = tags.slice(0, MAX_TAGS).map((t) => el("a", {href: tagHref(t), class: t === currentTag ? "current" : "",
      text: t, dataset: {tag: t}, onclick: (ev) => { ev.preventDefault(); openTag(t, true); }}));
    if (!tags.length) links.push(el("p", {class: "empty", text: "No tags."}));
    if (tags.length > MAX_TAGS) links.push(el("p", {class: "muted", text: (tags.length - MAX_TAGS) + " more; use a longer prefix."}));
    replaceChildren(document.getElementById("tags"), links);
  }

  function replicaSet(replicas) {
    return el("div", {class: "replicas"}, (Array.isArray(replicas) ? replicas : [replicas]).map((url, i) =>
      i === 0 ? urlLink(url) : el("div", {class: "redundant"}, [urlLink(url)])));
  }

  function showTag(tag, data) {
    const urls = data.urls || [];
    const attrs = Object.entries(data["user-data"] || {}).filter(([k]) => !/token/i.test(k));
    const blobs = urls.filter((r) => !String([].concat(r)[0]).startsWith("tag://")).length;
    replaceChildren(document.getElementById("tag-body"), [
      el("dl", {class: "kv"}, [
        el("dt", {text: "id"}), el("dd", {class: "mono", text: data.id || ""}),
        el("dt", {text: "last modified"}), el("dd", {class: "mono", text: data["last-modified"] || ""}),
        el("dt", {text: "entries"}), el("dd", {text: urls.length + " (" + blobs + " blobs, " + (urls.length - blobs) + " tag links)"}),
      ]),
      el("h2", {style: "margin-top:14px", text: "Attributes"}),
      attrs.length ? el("table", {}, [el("thead", {}, [el("tr", {}, [el("th", {text: "name"}), el("th", {text: "value"})])]),
                       el("tbody", {}, attrs.map(([k, v]) => el("tr", {}, [el("td", {class: "mono", text: k}),
                         el("td", {class: "mono", text: typeof v === "string" ? v : JSON.stringify(v)})])))])
                   : el("p", {class: "empty", text: "No user attributes."}),
      el("h2", {style: "margin-top:14px", text: "URLs (replicas indented)"}),
      el("div", {class: "urls", id: "tag-urls"}, urls.length ? urls.map(replicaSet) : [el("p", {class: "empty", text: "The tag is empty."})]),
    ]);
  }

  async function openTag(tag, push) {
    currentTag = tag;
    if (push) history.pushState({tag: tag}, "", tagHref(tag));
    for (const a of document.querySelectorAll("#tags a")) a.classList.toggle("current", a.dataset.tag === tag);
    document.getElementById("tag-title").textContent = tag;
    document.title = tag + " \u00b7 DDFS";
    if (!NAME.test(tag)) {
      showMessage("tag", "Invalid tag name \u201c" + tag + "\u201d.");
      replaceChildren(document.getElementById("tag-body"), []);
      return;
    }
    try {
      showTag(tag, await api.get("/ddfs/tag/" + encodeURIComponent(tag)));
      showMessage("tag", null);
    } catch (e) {
      const why = e.status === 401 ? "it is protected by a read token" : e.message;
      showMessage("tag", "Cannot show tag \u201c" + tag + "\u201d: " + why);
      replaceChildren(document.getElementById("tag-body"), [el("p", {class: "empty", text: "Not available."})]);
    }
  }

  function fromLocation() {
    const params = new URLSearchParams(location.search);
    const tag = params.get("tag");
    if (tag) openTag(tag, false);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const params = new URLSearchParams(location.search);
    const prefix = params.get("prefix") || "";
    document.getElementById("prefix").value = prefix;
    document.getElementById("prefix-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const value = document.getElementById("prefix").value.trim();
      const url = new URL(location.href);
      if (value) url.searchParams.set("prefix", value); else url.searchParams.delete("prefix");
      history.replaceState(null, "", url);
      listTags(value);
    });
    window.addEventListener("popstate", fromLocation);
    listTags(prefix);
    fromLocation();
  });
})();

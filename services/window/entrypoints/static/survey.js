// The home survey on a phone (入户调查): the form is kept as a draft in this browser
// (localStorage) at every change, photos included (made smaller first), until approval has it.
// A survey is often taken where the signal is poor: a send that fails keeps the draft and says
// so; a reload restores it. The server judges everything again; nothing here is trusted.
// The draft carries a survey id, made here when the draft starts and sent with every send: a
// send whose answer was lost may have reached approval, which then records the resend once.
// Sign-out and age clear drafts (static/survey_drafts.js); after a sign-out, even in another
// tab, this page keeps nothing more.
"use strict";

(function () {
  const form = document.getElementById("survey-form");
  if (!form) return;
  const KEY = form.dataset.draftKey;
  const MAX_PHOTOS = 8;
  const MAX_SIDE = 1600; // px: a page of a document stays legible, a photo ~300 KB
  const status = document.getElementById("survey-status");
  const errors = document.getElementById("survey-errors");
  const list = document.getElementById("photo-list");
  const input = document.getElementById("photo");
  const kind = document.getElementById("photo_kind");
  const clear = document.getElementById("survey-clear");
  const words = (key) => form.dataset["t" + key.replace(/(^|_)([a-z])/g, (_, __, c) => c.toUpperCase())] || key;
  const SIGNED_OUT = "onedoor.signed_out_at"; // set by survey_drafts.js at sign-out
  const loadedAt = new Date().toISOString();
  let photos = []; // [{kind, data (a data: URL)}]
  let draft = null; // {survey_id, started_at}: none until the first thing is kept

  function newSurveyId() {
    // A UUID (version 4). randomUUID needs a secure context; getRandomValues does not.
    if (window.crypto.randomUUID) return window.crypto.randomUUID();
    const b = window.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  function signedOutSince() {
    try {
      return (localStorage.getItem(SIGNED_OUT) || "") > loadedAt;
    } catch (e) {
      return false;
    }
  }

  function say(text, bad) {
    status.textContent = text;
    status.hidden = !text;
    status.classList.toggle("alert", !!bad);
  }

  function fields() {
    const out = {};
    for (const el of form.elements) {
      if (!el.name || el.type === "file" || el.type === "hidden" || el.name === "photo_kind") continue;
      if (el.type === "checkbox") {
        (out[el.name] = out[el.name] || []);
        if (el.checked) out[el.name].push(el.value);
      } else if (el.type === "radio") {
        if (el.checked) out[el.name] = el.value;
      } else {
        out[el.name] = el.value;
      }
    }
    return out;
  }

  function save() {
    if (signedOutSince()) {
      say(words("signed_out_now"), true); // signed out (here or in another tab): keep nothing
      return;
    }
    if (!draft) draft = { survey_id: newSurveyId(), started_at: new Date().toISOString() };
    form.elements.survey_id.value = draft.survey_id;
    const kept = { ...draft, fields: fields(), photos: photos, saved_at: new Date().toISOString() };
    try {
      localStorage.setItem(KEY, JSON.stringify(kept));
    } catch (e) {
      // The browser's store is full (photos are the large part): keep the typed fields.
      try {
        localStorage.setItem(KEY, JSON.stringify({ ...kept, photos: [] }));
        say(words("photos_not_kept"), true);
        return;
      } catch (e2) {
        return;
      }
    }
    clear.hidden = false;
  }

  function restore() {
    let kept;
    try {
      kept = JSON.parse(localStorage.getItem(KEY) || "null");
    } catch (e) {
      kept = null;
    }
    if (!kept || !kept.fields) return false;
    // A draft kept before drafts had an id gets one now: it was never sent with one.
    draft = { survey_id: kept.survey_id || newSurveyId(),
              started_at: kept.started_at || kept.saved_at || new Date().toISOString() };
    form.elements.survey_id.value = draft.survey_id;
    for (const el of form.elements) {
      if (!el.name || el.type === "hidden" || !(el.name in kept.fields)) continue;
      const value = kept.fields[el.name];
      if (el.type === "checkbox") el.checked = Array.isArray(value) && value.includes(el.value);
      else if (el.type === "radio") el.checked = value === el.value;
      else if (el.type !== "file") el.value = value;
    }
    for (const el of form.querySelectorAll("input[type=radio]")) {
      if (!(el.name in kept.fields)) el.checked = false;
    }
    photos = Array.isArray(kept.photos) ? kept.photos : [];
    render();
    clear.hidden = false;
    return true;
  }

  function render() {
    list.textContent = "";
    photos.forEach((p, i) => {
      const li = document.createElement("li");
      const img = document.createElement("img");
      img.src = p.data;
      img.alt = kind.querySelector(`option[value="${p.kind}"]`)?.textContent || p.kind;
      const caption = document.createElement("span");
      caption.textContent = img.alt;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "secondary";
      remove.textContent = words("remove");
      remove.addEventListener("click", () => { photos.splice(i, 1); render(); save(); });
      li.append(img, caption, remove);
      list.append(li);
    });
  }

  function smaller(file) {
    // Drawn on a canvas at most MAX_SIDE wide or high, as JPEG: what a phone's camera gives
    // (4000 px, 5 MB, sometimes HEIC) becomes a photo the draft and the line can carry.
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onerror = () => reject(reader.error);
      reader.onload = () => {
        const img = new Image();
        img.onerror = () => reject(new Error("not an image"));
        img.onload = () => {
          const scale = Math.min(1, MAX_SIDE / Math.max(img.width, img.height));
          const canvas = document.createElement("canvas");
          canvas.width = Math.max(1, Math.round(img.width * scale));
          canvas.height = Math.max(1, Math.round(img.height * scale));
          canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
          resolve(canvas.toDataURL("image/jpeg", 0.85));
        };
        img.src = reader.result;
      };
      reader.readAsDataURL(file);
    });
  }

  input.addEventListener("change", async () => {
    for (const file of Array.from(input.files || [])) {
      if (photos.length >= MAX_PHOTOS) { say(words("too_many_photos"), true); break; }
      try {
        photos.push({ kind: kind.value, data: await smaller(file) });
      } catch (e) {
        // Not an image the browser can read: sent as it is, approval says what is wrong.
      }
    }
    input.value = ""; // taken into the draft: the script sends them, not the input
    render();
    save();
  });

  form.addEventListener("input", save);
  form.addEventListener("change", (e) => { if (e.target !== input) save(); });

  clear.addEventListener("click", () => {
    localStorage.removeItem(KEY);
    window.location.reload();
  });

  function blobOf(dataUrl) {
    const [head, body] = dataUrl.split(",");
    const type = head.slice(5).split(";")[0];
    const bytes = atob(body);
    const out = new Uint8Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) out[i] = bytes.charCodeAt(i);
    return new Blob([out], { type });
  }

  function showErrors(list_) {
    const ul = errors.querySelector("ul");
    ul.textContent = "";
    for (const e of list_) {
      const li = document.createElement("li");
      li.textContent = e.text;
      ul.append(li);
      const field = form.elements[e.field];
      if (field && field.setAttribute) field.setAttribute("aria-invalid", "true");
    }
    errors.hidden = list_.length === 0;
    if (list_.length) errors.scrollIntoView({ block: "start" });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (signedOutSince()) { // signed out in another tab: this draft went with the others
      say(words("signed_out_now"), true);
      return;
    }
    save();
    const data = new FormData();
    data.append("csrf_token", form.elements.csrf_token.value);
    data.append("survey_id", draft.survey_id); // the same at every send of this draft
    const values = fields();
    for (const [name, value] of Object.entries(values)) {
      for (const v of Array.isArray(value) ? value : [value]) data.append(name, v);
    }
    photos.forEach((p, i) => {
      data.append("photo_kind", p.kind);
      data.append("photo", blobOf(p.data), `photo-${i}.jpg`);
    });
    const send = document.getElementById("survey-send");
    send.disabled = true;
    say(words("sending"));
    let answer;
    try {
      answer = await fetch(form.action, { method: "POST", body: data, credentials: "same-origin",
                                          headers: { Accept: "application/json" } });
    } catch (e) {
      send.disabled = false;
      // The draft stays. It may have reached approval all the same (only the answer lost):
      // sent again under its survey id, it is recorded once.
      say(words("send_failed"), true);
      return;
    }
    send.disabled = false;
    if (answer.redirected && answer.url.includes("/sign-in")) {
      say(words("signed_out"), true);
      return;
    }
    let body = null;
    try { body = await answer.json(); } catch (e) { body = null; }
    if (answer.ok && body && body.saved) {
      localStorage.removeItem(KEY);
      draft = null; // the next survey of this case, should there be one, is another
      window.location.assign(body.next);
      return;
    }
    say("", false);
    showErrors(body && body.errors ? body.errors : [{ field: "", text: `${answer.status}` }]);
  });

  window.addEventListener("offline", () => say(words("offline"), true));
  window.addEventListener("online", () => say(""));

  if (restore()) say(words("draft_restored"));
  else if (!navigator.onLine) say(words("offline"), true);
})();

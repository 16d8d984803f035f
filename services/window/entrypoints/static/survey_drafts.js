// The home survey's drafts kept in this browser (static/survey.js writes them) hold photos of
// identity documents: they must not outlive the worker's session, nor stay for good on a phone
// that is shared or lost. On every page: signing out clears every survey draft in this browser,
// whoever's; and a draft started more than 7 days ago is discarded when a page loads, and the
// page says so. Approval has a survey only once it is sent; a draft is this phone's alone.
"use strict";

(function () {
  const PREFIX = "onedoor.survey."; // survey.html: onedoor.survey.<staff id>.<case id>
  const SIGNED_OUT = "onedoor.signed_out_at"; // survey.js keeps no draft after this moment
  const MAX_AGE_MS = 7 * 24 * 3600 * 1000;

  function draftKeys() {
    const keys = [];
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i);
      if (key && key.startsWith(PREFIX)) keys.push(key);
    }
    return keys;
  }

  function startedAt(key) {
    try {
      const draft = JSON.parse(localStorage.getItem(key) || "null");
      // A draft kept before drafts had a start counts from its last change.
      return Date.parse((draft && (draft.started_at || draft.saved_at)) || "");
    } catch (e) {
      return NaN; // unreadable: nothing to restore, discarded with the old ones
    }
  }

  try {
    for (const form of document.querySelectorAll('form[action="/sign-out"]')) {
      form.addEventListener("submit", () => {
        // Before the request: the answer is a redirect to the sign-in page, and a session
        // that has already ended must not leave the drafts behind either.
        for (const key of draftKeys()) localStorage.removeItem(key);
        localStorage.setItem(SIGNED_OUT, new Date().toISOString());
      });
    }
    const oldest = Date.now() - MAX_AGE_MS;
    const expired = draftKeys().filter((key) => !(startedAt(key) >= oldest));
    for (const key of expired) localStorage.removeItem(key);
    const note = document.getElementById("drafts-expired");
    if (expired.length && note) {
      note.textContent = note.dataset.text.replace("{n}", String(expired.length));
      note.className = "ok-box"; // styled once shown: hidden, it is no page's notice
      note.hidden = false;
    }
  } catch (e) {
    // No storage in this browser (disabled, or a private window that refuses it): no drafts.
  }
})();

// OneDoor window: small, progressive. Every page works without this file; with it, the
// resident ID number is checked as it is typed, members are added without a round trip, and
// only the current programme's extra fields show. The server checks everything again.
"use strict";

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK = "10X98765432";

// GB 11643-1999, as intake's services/intake/domain/resident_id.py reads it.
function readResidentId(raw, today) {
  const n = raw.trim().toUpperCase();
  if (!/^[0-9]{17}[0-9X]$/.test(n)) return { error: "shape" };
  let total = 0;
  for (let i = 0; i < 17; i++) total += Number(n[i]) * WEIGHTS[i];
  const expected = CHECK[total % 11];
  if (n[17] !== expected) return { error: "check", got: n[17], expected };
  const y = Number(n.slice(6, 10)), m = Number(n.slice(10, 12)), d = Number(n.slice(12, 14));
  const born = new Date(Date.UTC(y, m - 1, d));
  if (born.getUTCFullYear() !== y || born.getUTCMonth() !== m - 1 || born.getUTCDate() !== d) {
    return { error: "date", date: n.slice(6, 14) };
  }
  const iso = `${n.slice(6, 10)}-${n.slice(10, 12)}-${n.slice(12, 14)}`;
  if (iso > today || y < 1890) return { error: "plausible", date: iso };
  let age = Number(today.slice(0, 4)) - y;
  if (today.slice(5) < iso.slice(5)) age -= 1;
  return { born: iso, male: Number(n[16]) % 2 === 1, adult: age >= 18 };
}

const TEXT = {
  zh: {
    typing: (k) => `已输入 ${k}/18 位`,
    shape: "应为18位：17位数字加1位数字或X",
    check: (r) => `校验码是${r.got}，按前17位应为${r.expected}：请核对号码`,
    date: (r) => `号码中的出生日期${r.date}不存在`,
    plausible: (r) => `号码中的出生日期${r.date}不合理`,
    ok: (r) => `号码有效：${r.born}出生，${r.male ? "男" : "女"}${r.adult ? "，成年人须签署授权书" : "，未成年"}`,
  },
  en: {
    typing: (k) => `${k} of 18 characters`,
    shape: "must be 17 digits followed by a digit or X",
    check: (r) => `check digit is ${r.got}, the number requires ${r.expected}`,
    date: (r) => `birth date ${r.date} is not a real date`,
    plausible: (r) => `birth date ${r.date} is not plausible`,
    ok: (r) => `valid: born ${r.born}, ${r.male ? "male" : "female"}${r.adult ? ", adult: consent needed" : ", minor"}`,
  },
};

function checkId(input) {
  const words = TEXT[input.dataset.lang] || TEXT.zh;
  const out = document.getElementById(input.id + "-check");
  if (!out) return;
  const value = input.value.trim();
  let message = "", bad = false;
  if (value.length > 0 && value.length < 18) {
    message = words.typing(value.length);
  } else if (value.length >= 18) {
    const r = readResidentId(value, input.dataset.today);
    if (r.error) {
      bad = true;
      message = typeof words[r.error] === "function" ? words[r.error](r) : words[r.error];
    } else {
      message = words.ok(r);
      const consent = document.getElementById(input.id.replace("resident_id", "consent_signed_on"));
      if (consent) consent.required = r.adult;
    }
  }
  out.textContent = message;
  out.classList.toggle("error", bad);
  input.setAttribute("aria-invalid", bad ? "true" : "false");
}

function renumber(container) {
  container.querySelectorAll("fieldset.member").forEach((fs, k) => {
    const n = fs.querySelector(".member-number");
    if (n) n.textContent = String(k + 1);
    const remove = fs.querySelector(".remove-member");
    if (remove) remove.hidden = container.querySelectorAll("fieldset.member").length < 2;
  });
}

function setUpMembers() {
  const container = document.getElementById("members");
  const template = document.getElementById("member-template");
  const add = document.getElementById("add-member");
  if (!container || !template || !add) return;
  add.addEventListener("click", (event) => {
    event.preventDefault();
    const indexes = [...container.querySelectorAll("fieldset.member")].map((f) => Number(f.dataset.index));
    const next = indexes.length ? Math.max(...indexes) + 1 : 0;
    const html = template.innerHTML.replaceAll("__i__", String(next));
    container.insertAdjacentHTML("beforeend", html);
    showProgrammeFields();  // the new card's guardianship fields follow the programme chosen
    renumber(container);
    const added = container.lastElementChild;
    added.querySelector("input").focus();
  });
  container.addEventListener("click", (event) => {
    const button = event.target.closest(".remove-member");
    if (!button) return;
    button.closest("fieldset.member").remove();
    renumber(container);
    add.focus();
  });
  renumber(container);
}

// Each programme's own fields (a tekun care mode, a temporary request, a child's guardianship
// on every member card) show only while it is the programme chosen. Without this file they all
// show, each under a legend saying whom it is for; the server sends only the chosen one's.
function showProgrammeFields() {
  const select = document.getElementById("programme");
  if (!select) return;
  document.querySelectorAll("fieldset[data-programme]").forEach((fs) => {
    fs.hidden = fs.dataset.programme !== select.value;
  });
}

function setUpProgramme() {
  const select = document.getElementById("programme");
  if (!select) return;
  select.addEventListener("change", showProgrammeFields);
  showProgrammeFields();
}

document.addEventListener("DOMContentLoaded", () => {
  document.addEventListener("input", (event) => {
    if (!event.target.matches("input.resident-id")) return;
    // The server's message was about the number as it was sent; what is typed now replaces it.
    const stale = document.getElementById(event.target.id + "-error");
    if (stale) stale.hidden = true;
    checkId(event.target);
  });
  // On a page the server sent back with a message for the number, that message stands alone:
  // the same words twice under one field read as two problems.
  document.querySelectorAll("input.resident-id").forEach((input) => {
    if (input.value && !document.getElementById(input.id + "-error")) checkId(input);
  });
  document.querySelectorAll(".print-button").forEach((b) => b.addEventListener("click", () => window.print()));
  setUpMembers();
  setUpProgramme();
  const problems = document.getElementById("problems");
  if (problems) problems.focus();
});

/**
 * The offline sealing page's script (issue 5, item 5: "a self-contained
 * offline HTML page ... that does the same sealing"): a testimony is
 * validated with the shared rules (`forms/static/validate.js`, docs/protocol.md
 * §5), sealed (§3) with the witness's files (location data removed from
 * photos unless the witness unticks it), and written as a §4 envelope
 * (`zip-store.js`) that the witness saves from a Blob URL; the new receipt
 * code (§7) is shown once. Nothing is sent anywhere: the page is opened from
 * disk and its CSP forbids every network request.
 *
 * `service/web/offline.py` writes the page and inlines this bundle. The
 * page carries, in the `#page-data` JSON block, the form definition, the
 * pinned intake key, the rules and texts of every language it offers, and
 * the sealing Worker's source: a page opened from `file://` cannot load a
 * Worker from a file, nor a module Worker from a Blob URL (its origin is
 * opaque; measured in Chromium), so the Worker is a classic script
 * (`offline-seal-worker.js`) started from a Blob URL (`worker-src blob:`). Each language's form is pre-rendered by the
 * generator in a `<template id="lang-xx">`; choosing a language swaps it in.
 */
import { validateAnswers, validateConsent } from "../../../../forms/static/validate.js";
import { b64uDecode, hexEncode, sha256, utf8 } from "./bytes.js";
import { withConsentText } from "./consent.js";
import { SealError } from "./errors.js";
import { clearProblems, collectAnswers, collectConsent, collectFiles, placeholderAnswers, prepareFiles, showProblems, showReceiptCode } from "./form-dom.js";
import { installLeave } from "./leave.js";
import { newReceiptCode } from "./receipt-code.js";
import { deriveWitnessKeys } from "./receipt.js";
import { keyId } from "./s1.js";
import { sealSubmission } from "./submission.js";
import { storedZip } from "./zip-store.js";

const data = JSON.parse(document.getElementById("page-data").textContent);
const definition = data.form.definition;
const workerUrl = { classic: URL.createObjectURL(new Blob([data.worker], { type: "text/javascript" })) };
let lang = data.defaultLang;
let busy = false;
let download = null; // the Blob URL of the last envelope

function byId(id) {
  return document.getElementById(id);
}

function ui() {
  return data.ui[lang];
}

function setStatus(text, fraction) {
  byId("progress").hidden = false;
  byId("status").textContent = text;
  const bar = byId("progress-bar");
  if (fraction === undefined) bar.removeAttribute("value");
  else bar.value = Math.max(0, Math.min(1, fraction));
}

function fail(text) {
  setStatus(text, 0);
  byId("progress").classList.add("failed");
  busy = false;
  byId("send").disabled = false;
}

/** The §4 envelope: `request.json`, then `blobs/<hex>` for every blob it names. */
async function envelope(sealed) {
  const members = [{ name: "request.json", data: utf8(JSON.stringify(sealed.request)) }];
  for (const attachment of sealed.attachments) {
    members.push({ name: `blobs/${attachment.blob}`, data: await attachment.ciphertext.toBlob() });
  }
  if (sealed.bodyBlob) members.push({ name: `blobs/${sealed.bodyBlob.blob}`, data: sealed.bodyBlob.ciphertext });
  return storedZip(members, "application/octet-stream");
}

function showResult(grouped, file, name) {
  if (download !== null) URL.revokeObjectURL(download);
  download = URL.createObjectURL(file);
  const link = byId("download");
  link.href = download;
  link.download = name;
  const code = byId("receipt-code");
  showReceiptCode(code, grouped);
  const form = byId("witness-form");
  form.reset();
  form.hidden = true;
  byId("progress").hidden = true;
  byId("receipt").hidden = false;
  byId("receipt-heading").focus();
}

async function submit() {
  const form = byId("witness-form");
  clearProblems(form);
  byId("progress").classList.remove("failed");
  const answers = collectAnswers(definition);
  const consent = collectConsent(form);
  const files = collectFiles(definition);
  const { checkedAnswers, placeholders } = placeholderAnswers(definition, answers, files);
  const problems = [
    ...validateAnswers(data.rules, definition, checkedAnswers, placeholders).map((problem) => ({ problem, consent: false })),
    ...validateConsent(data.rules, consent).map((problem) => ({ problem, consent: true })),
  ];
  if (problems.length > 0) {
    showProblems(form, problems, data.messages, lang, data.fallback);
    return;
  }
  busy = true;
  byId("send").disabled = true;
  const text = ui();
  let stage = "prepare";
  try {
    setStatus(text.status_preparing);
    const prepared = await prepareFiles(files);
    stage = "seal";
    const code = newReceiptCode();
    setStatus(text.status_keys);
    const witness = await deriveWitnessKeys(code.digits, { workerUrl });
    setStatus(text.status_sealing, 0);
    const sealed = await sealSubmission({
      intakePublicKey: b64uDecode(data.intakeKey),
      manifest: {
        v: 1,
        form: { id: definition.id, version: definition.version, sha256: data.form.sha256 },
        lang,
        answers,
        // v1.1: the hash of the consent wording shown, when the page carries its document.
        consent: await withConsentText(consent, data.consentDocument),
      },
      files: prepared,
      witness,
      workerUrl,
      onProgress: ({ done, total }) => setStatus(text.status_sealing, total ? done / total : 1),
    });
    setStatus(text.offline_status_zip);
    const file = await envelope(sealed);
    const name = `testimony-${hexEncode(await sha256(utf8(sealed.request.header))).slice(0, 12)}.testimony`;
    busy = false;
    showResult(code.grouped, file, name);
  } catch (error) {
    const key = error?.code === "malformed-input" && stage === "prepare" ? "error_photo" : "offline_error";
    fail(text[key] ?? text.offline_error);
  }
}

/** Wire the form of the language now shown. */
function activate() {
  const form = byId("witness-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!busy) submit();
  });
  byId("again").addEventListener("click", () => showLanguage(lang));
  for (const block of document.querySelectorAll(".js-missing")) block.hidden = true;
  byId("send").disabled = false;
  document.documentElement.dataset.ready = "true";
}

/** Swap in the pre-rendered form of `code` (answers typed so far are dropped). */
function showLanguage(code) {
  if (busy || !(code in data.ui)) return;
  lang = code;
  const template = byId(`lang-${code}`);
  document.getElementById("main").replaceChildren(template.content.cloneNode(true));
  document.documentElement.lang = code;
  document.title = data.titles[code];
  for (const link of document.querySelectorAll("a[data-lang]")) {
    if (link.dataset.lang === code) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  activate();
}

async function checkPinnedKey() {
  // The key id shown is the one the page seals to: a page edited to swap the
  // key but not the fingerprint refuses to seal.
  const computed = await keyId(b64uDecode(data.intakeKey));
  if (computed !== data.intakeKeyId) throw new SealError("malformed-input", "the page's key does not match its fingerprint");
}

installLeave();
for (const link of document.querySelectorAll("a[data-lang]")) {
  link.addEventListener("click", (event) => {
    event.preventDefault();
    showLanguage(link.dataset.lang);
  });
}
checkPinnedKey().then(activate, () => fail(ui().offline_error));

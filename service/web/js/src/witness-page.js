/**
 * The form page's script (issue 5, "Witness pages"): validates the answers
 * with the shared rules (`forms/static/validate.js`, PROTOCOL.md §5), seals
 * them (§3) with the witness's files (location data removed from photos
 * unless the witness unticks it), uploads the files over tus (§6), solves
 * the proof of work in a Worker (§8), sends the submission, and verifies the
 * receipt (§10) against the log key pinned in the page before showing the
 * receipt code (§7).
 *
 * The page is rendered by the server (`service/web/pages.py`); everything
 * this script needs is in the `#page-data` JSON block. Nothing is stored on
 * the device: no cookie, no storage, no URL with an answer in it.
 */
import { validateAnswers, validateConsent, problemMessage } from "../../../../forms/static/validate.js";
import { b64uDecode } from "./bytes.js";
import { installLeave } from "./leave.js";
import { withoutLocation } from "./photo-location.js";
import { newReceiptCode } from "./receipt-code.js";
import { deriveWitnessKeys, solvePow, verifyReceipt } from "./receipt.js";
import { sealSubmission } from "./submission.js";
import { uploadBlob } from "./upload.js";

const OTHER = "__other";
const PLACE_TEXT = "__text";

const data = JSON.parse(document.getElementById("page-data").textContent);
const definition = data.form.definition;
const ui = data.ui;
const form = document.getElementById("witness-form");
const sendButton = document.getElementById("send");
const summary = document.getElementById("error-summary");
const summaryList = document.getElementById("error-list");
const progressBox = document.getElementById("progress");
const statusLine = document.getElementById("status");
const progressBar = document.getElementById("progress-bar");
const recordings = new Map(); // attachments field id -> [File]
let busy = false;

function byId(id) {
  return document.getElementById(id);
}

function checked(name) {
  return Array.from(form.querySelectorAll(`input[name="${CSS.escape(name)}"]`)).filter((input) => input.checked);
}

function isBlank(text) {
  return text.trim() === "";
}

function datePart(prefix) {
  const date = byId(`${prefix}-date`).value.trim();
  const time = byId(`${prefix}-time`).value.trim();
  if (date === "" && time === "") return null;
  return time === "" ? date : `${date}T${time}`;
}

/** M.answers as the witness filled them; a field left empty is left out (§5). */
function collectAnswers() {
  const answers = {};
  for (const field of definition.fields) {
    const id = field.id;
    const key = `f-${id}`;
    switch (field.type) {
      case "text":
      case "longtext":
      case "date": {
        const value = byId(key).value;
        if (!isBlank(value)) answers[id] = field.type === "date" ? value.trim() : value;
        break;
      }
      case "number": {
        const value = byId(key).value.trim();
        if (value !== "") answers[id] = Number(value);
        break;
      }
      case "datetime_range": {
        const start = datePart(`${key}-start`);
        const end = datePart(`${key}-end`);
        if (start !== null || end !== null) answers[id] = { start: start ?? "", end };
        break;
      }
      case "choice": {
        const [picked] = checked(key);
        if (picked) answers[id] = picked.value === OTHER ? { other: byId(`${key}-other`).value } : picked.value;
        break;
      }
      case "multichoice": {
        const values = checked(key).map((input) =>
          input.value === OTHER ? { other: byId(`${key}-other`).value } : input.value);
        if (values.length > 0) answers[id] = values;
        break;
      }
      case "place": {
        const [picked] = checked(key);
        if (picked) answers[id] = picked.value === PLACE_TEXT ? { text: byId(`${key}-text`).value } : { id: picked.value };
        break;
      }
      case "boolean": {
        const [picked] = checked(key);
        if (picked) answers[id] = picked.value === "true";
        break;
      }
      case "attachments":
        break; // filled in by sealSubmission from the files
      default:
        break;
    }
  }
  return answers;
}

/** M.consent from the consent controls (`forms/consent.json`). */
function collectConsent() {
  const consent = { share_with: checked("c-share_with").map((input) => input.value) };
  const [contact] = checked("c-contact");
  if (contact) consent.contact = contact.value === "true";
  return consent;
}

/** `[{file, field, strip}]` for every attachments field, in form order. */
function collectFiles() {
  const files = [];
  for (const field of definition.fields) {
    if (field.type !== "attachments") continue;
    const input = byId(`f-${field.id}`);
    const strip = byId(`f-${field.id}-strip`).checked;
    for (const file of input.files) files.push({ file, field: field.id, strip });
    for (const file of recordings.get(field.id) ?? []) files.push({ file, field: field.id, strip: false });
  }
  return files;
}

function fieldLabel(fieldId, consent) {
  const container = byId(consent ? `field-consent-${fieldId}` : `field-${fieldId}`);
  return container?.dataset.label ?? "";
}

function clearProblems() {
  summary.hidden = true;
  summaryList.replaceChildren();
  for (const error of form.querySelectorAll(".error-message")) {
    error.textContent = "";
    error.hidden = true;
  }
  for (const container of form.querySelectorAll(".field-invalid")) container.classList.remove("field-invalid");
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

/** Show problems next to their fields and in the summary, in the witness's language. */
function showProblems(problems) {
  const byField = new Map();
  for (const { problem, consent } of problems) {
    const message = problemMessage(data.messages, problem, data.lang, data.fallback);
    const key = `${consent ? "consent-" : ""}${problem[0] ?? ""}`;
    const entry = byField.get(key) ?? { fieldId: problem[0], consent, messages: [] };
    if (!entry.messages.includes(message)) entry.messages.push(message);
    byField.set(key, entry);
  }
  for (const [key, { fieldId, consent, messages }] of byField) {
    const container = fieldId === null ? null : byId(`field-${key}`);
    const item = document.createElement("li");
    const text = messages.join(" ");
    if (container) {
      container.classList.add("field-invalid");
      const error = byId(`err-${key}`);
      error.textContent = text;
      error.hidden = false;
      for (const input of container.querySelectorAll("input, textarea, select")) {
        input.setAttribute("aria-invalid", "true");
      }
      const link = document.createElement("a");
      link.href = `#${container.dataset.focus}`;
      link.textContent = `${fieldLabel(fieldId, consent)}: ${text}`;
      link.addEventListener("click", (event) => {
        event.preventDefault();
        byId(container.dataset.focus)?.focus();
      });
      item.append(link);
    } else {
      item.textContent = text;
    }
    summaryList.append(item);
  }
  summary.hidden = false;
  summary.focus();
}

function setStatus(text, fraction) {
  progressBox.hidden = false;
  statusLine.textContent = text;
  if (fraction === undefined) {
    progressBar.removeAttribute("value");
  } else {
    progressBar.value = Math.max(0, Math.min(1, fraction));
  }
}

function fail(text) {
  setStatus(text, 0);
  progressBox.classList.add("failed");
  busy = false;
  sendButton.disabled = false;
}

async function prepareFiles(files) {
  const prepared = [];
  for (const entry of files) {
    const cleaned = entry.strip ? (await withoutLocation(entry.file)).file : entry.file;
    prepared.push({ file: cleaned, name: entry.file.name, type: entry.file.type || undefined, field: entry.field });
  }
  return prepared;
}

async function postSubmission(request) {
  const response = await fetch("/api/v1/submissions", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(request),
    credentials: "omit",
    cache: "no-store",
  });
  if (response.status !== 201) throw new Error(`the server answered ${response.status}`);
  return response.json();
}

async function fetchPow() {
  const response = await fetch("/api/v1/pow", { credentials: "omit", cache: "no-store" });
  if (!response.ok) throw new Error(`the server answered ${response.status}`);
  return response.json();
}

function clearForm() {
  form.reset();
  recordings.clear();
  for (const list of form.querySelectorAll(".recordings")) list.replaceChildren();
}

function showReceipt(grouped, verified) {
  const section = byId("receipt");
  const code = byId("receipt-code");
  code.replaceChildren(...grouped.split("-").map((group, i) => {
    const span = document.createElement("span");
    span.className = "code-group";
    span.textContent = i === 0 ? group : `-${group}`;
    return span;
  }));
  code.setAttribute("aria-label", grouped.split("").join(" "));
  byId("receipt-verified").hidden = !verified;
  byId("receipt-unverified").hidden = verified;
  section.dataset.state = verified ? "verified" : "unverified";
  form.hidden = true;
  progressBox.hidden = true;
  clearForm();
  section.hidden = false;
  byId("receipt-heading").focus();
}

async function submit() {
  clearProblems();
  progressBox.classList.remove("failed");
  const answers = collectAnswers();
  const consent = collectConsent();
  const files = collectFiles();
  // Attachments answers are filled in while sealing; validate them as placeholders now.
  const placeholders = [];
  const checkedAnswers = { ...answers };
  for (const field of definition.fields) {
    if (field.type !== "attachments") continue;
    const mine = files.filter((entry) => entry.field === field.id).map((_, i) => `pending-${field.id}-${i}`);
    placeholders.push(...mine);
    if (mine.length > 0 || field.required) checkedAnswers[field.id] = mine;
  }
  const problems = [
    ...validateAnswers(data.rules, definition, checkedAnswers, placeholders).map((problem) => ({ problem, consent: false })),
    ...validateConsent(data.rules, consent).map((problem) => ({ problem, consent: true })),
  ];
  if (problems.length > 0) {
    showProblems(problems);
    return;
  }
  busy = true;
  sendButton.disabled = true;
  let stage = "prepare";
  try {
    setStatus(ui.status_preparing);
    const prepared = await prepareFiles(files);
    stage = "seal";
    const code = newReceiptCode();
    setStatus(ui.status_keys);
    const witness = await deriveWitnessKeys(code.digits);
    setStatus(ui.status_sealing, 0);
    const sealed = await sealSubmission({
      intakePublicKey: b64uDecode(data.intakeKey),
      manifest: {
        v: 1,
        form: { id: definition.id, version: definition.version, sha256: data.form.sha256 },
        lang: data.lang,
        answers,
        consent,
      },
      files: prepared,
      witness,
      onProgress: ({ done, total }) => setStatus(ui.status_sealing, total ? done / total : 1),
    });
    stage = "upload";
    const uploads = sealed.attachments.map((a) => ({ blob: a.blob, ciphertext: a.ciphertext }));
    if (sealed.bodyBlob) uploads.push(sealed.bodyBlob);
    const total = uploads.reduce((sum, u) => sum + u.ciphertext.size, 0);
    let sentBefore = 0;
    for (const upload of uploads) {
      setStatus(ui.status_uploading, total ? sentBefore / total : 1);
      await uploadBlob(upload.ciphertext, upload.blob, {
        onProgress: (sent) => setStatus(ui.status_uploading, total ? (sentBefore + sent) / total : 1),
      });
      sentBefore += upload.ciphertext.size;
    }
    stage = "send";
    setStatus(ui.status_pow);
    const challenge = await fetchPow();
    const nonce = await solvePow(challenge.challenge, challenge.bits);
    sealed.request.pow = { challenge: challenge.challenge, nonce };
    setStatus(ui.status_sending);
    const receipt = await postSubmission(sealed.request);
    setStatus(ui.status_verifying);
    let verified = true;
    try {
      await verifyReceipt(receipt, data.logKey, undefined, sealed.request);
    } catch {
      verified = false;
    }
    busy = false;
    showReceipt(code.grouped, verified);
  } catch (error) {
    const key = error?.code === "malformed-input" && stage === "prepare" ? "error_photo" : `error_${stage}`;
    fail(ui[key] ?? ui.error_send);
  }
}

function setUpRecorder(field) {
  const button = byId(`f-${field.id}-record`);
  const list = byId(`f-${field.id}-recordings`);
  if (!button || typeof MediaRecorder === "undefined" || !navigator.mediaDevices?.getUserMedia) return;
  button.hidden = false;
  let recorder = null;
  let chunks = [];
  button.addEventListener("click", async () => {
    if (recorder !== null) {
      recorder.stop();
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      byId(`f-${field.id}-record-status`).textContent = ui.record_denied;
      return;
    }
    chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.addEventListener("dataavailable", (event) => {
      if (event.data.size > 0) chunks.push(event.data);
    });
    recorder.addEventListener("stop", () => {
      for (const track of stream.getTracks()) track.stop();
      const type = (recorder.mimeType || "audio/webm").split(";")[0];
      const extension = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
      const mine = recordings.get(field.id) ?? [];
      const file = new File(chunks, `${ui.recording_name}-${mine.length + 1}.${extension}`, { type });
      mine.push(file);
      recordings.set(field.id, mine);
      const item = document.createElement("li");
      item.textContent = `${file.name} `;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "secondary";
      remove.textContent = ui.record_remove;
      remove.addEventListener("click", () => {
        recordings.set(field.id, (recordings.get(field.id) ?? []).filter((f) => f !== file));
        item.remove();
      });
      item.append(remove);
      list.append(item);
      recorder = null;
      button.textContent = ui.record_start;
      button.setAttribute("aria-pressed", "false");
      byId(`f-${field.id}-record-status`).textContent = ui.record_done;
    });
    recorder.start();
    button.textContent = ui.record_stop;
    button.setAttribute("aria-pressed", "true");
    byId(`f-${field.id}-record-status`).textContent = ui.recording;
  });
}

installLeave();
for (const field of definition.fields) {
  if (field.type === "attachments") setUpRecorder(field);
}
for (const block of document.querySelectorAll(".needs-js")) block.hidden = false;
for (const block of document.querySelectorAll(".js-missing")) block.hidden = true;
form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (!busy) submit();
});
sendButton.disabled = false;
document.documentElement.dataset.ready = "true";

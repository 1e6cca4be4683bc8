/**
 * The form page's script (issue 5, "Witness pages"): validates the answers
 * with the shared rules (`forms/static/validate.js`, docs/protocol.md §5), seals
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
import { validateAnswers, validateConsent } from "../../../../forms/static/validate.js";
import { postForReceipt, proofOfWork } from "./api.js";
import { b64uDecode } from "./bytes.js";
import { withConsentText } from "./consent.js";
import { clearProblems, collectAnswers, collectConsent, collectFiles, placeholderAnswers, prepareFiles, showProblems, showReceiptCode } from "./form-dom.js";
import { installLeave } from "./leave.js";
import { newReceiptCode } from "./receipt-code.js";
import { deriveWitnessKeys, verifyReceipt } from "./receipt.js";
import { sealSubmission } from "./submission.js";
import { uploadSealed } from "./upload.js";

const data = JSON.parse(document.getElementById("page-data").textContent);
const definition = data.form.definition;
const ui = data.ui;
const form = document.getElementById("witness-form");
const sendButton = document.getElementById("send");
const progressBox = document.getElementById("progress");
const statusLine = document.getElementById("status");
const progressBar = document.getElementById("progress-bar");
const recordings = new Map(); // attachments field id -> [File]
let busy = false;

function byId(id) {
  return document.getElementById(id);
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

function clearForm() {
  form.reset();
  recordings.clear();
  for (const list of form.querySelectorAll(".recordings")) list.replaceChildren();
}

function showReceipt(grouped, verified) {
  const section = byId("receipt");
  const code = byId("receipt-code");
  showReceiptCode(code, grouped);
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
  clearProblems(form);
  progressBox.classList.remove("failed");
  const answers = collectAnswers(definition, form);
  const consent = collectConsent(form);
  const files = collectFiles(definition, recordings);
  const { checkedAnswers, placeholders } = placeholderAnswers(definition, answers, files);
  const problems = [
    ...validateAnswers(data.rules, definition, checkedAnswers, placeholders).map((problem) => ({ problem, consent: false })),
    ...validateConsent(data.rules, consent).map((problem) => ({ problem, consent: true })),
  ];
  if (problems.length > 0) {
    showProblems(form, problems, data.messages, data.lang, data.fallback);
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
        // v1.1: the hash of the consent wording shown, when the page carries its document.
        consent: await withConsentText(consent, data.consentDocument),
      },
      files: prepared,
      witness,
      onProgress: ({ done, total }) => setStatus(ui.status_sealing, total ? done / total : 1),
    });
    stage = "upload";
    await uploadSealed(sealed, { onProgress: (fraction) => setStatus(ui.status_uploading, fraction) });
    stage = "send";
    setStatus(ui.status_pow);
    const pow = await proofOfWork();
    if (pow !== null) sealed.request.pow = pow;
    setStatus(ui.status_sending);
    const receipt = await postForReceipt("/api/v1/submissions", sealed.request);
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

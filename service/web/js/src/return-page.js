/**
 * The return page's script (`GET /{lang}/return`, issue 5 "Follow-ups and
 * replies"): the witness types the receipt code; the page derives the
 * witness keys from it (Argon2id in a Worker, §7), fetches and opens the
 * reviewers' replies, and lets the witness add text and files to one of
 * their testimonies (the latest unless they choose another) as a signed
 * follow-up whose receipt it verifies (§10).
 *
 * The code and the keys stay in this page's memory: nothing is stored, and
 * the code is never sent. Everything the script needs is in `#page-data`.
 */
import { postForReceipt, proofOfWork } from "./api.js";
import { b64uDecode } from "./bytes.js";
import { fetchWitnessView, sealFollowup, signFollowup } from "./followup.js";
import { prepareFiles } from "./form-dom.js";
import { installLeave } from "./leave.js";
import { normaliseReceiptCode } from "./receipt-code.js";
import { deriveWitnessKeys, verifyReceipt } from "./receipt.js";
import { uploadSealed } from "./upload.js";

const data = JSON.parse(document.getElementById("page-data").textContent);
const ui = data.ui;
const byId = (id) => document.getElementById(id);
const codeForm = byId("code-form");
const codeInput = byId("receipt-code-input");
const openButton = byId("open");
const codeStatus = byId("code-status");
const view = byId("witness-view");
const followupForm = byId("followup-form");
const sendButton = byId("send-followup");
const progressBox = byId("followup-progress");
const followupStatus = byId("followup-status");
const progressBar = byId("followup-bar");

let keys = null; // the witness keys, once the code has opened something
let busy = false;
const parentSelect = byId("followup-parent");

/** The witness's submissions to choose from, oldest first; the latest is chosen. */
function showSubmissions(submissions) {
  parentSelect.replaceChildren();
  submissions.forEach((id, n) => {
    const option = document.createElement("option");
    option.value = id;
    const label = ui.return_testimony_n.replace("{n}", String(n + 1));
    option.textContent = n === submissions.length - 1 ? `${label} ${ui.return_latest}` : label;
    parentSelect.append(option);
  });
  parentSelect.value = submissions.at(-1);
  byId("parent-field").hidden = submissions.length < 2;
}

function showReplies(replies) {
  const list = byId("replies");
  list.replaceChildren();
  for (const reply of replies) {
    const item = document.createElement("li");
    item.className = "reply";
    item.dataset.id = reply.id;
    const text = document.createElement("p");
    text.textContent = reply.text; // text, never markup
    item.append(text);
    list.append(item);
  }
  byId("no-replies").hidden = replies.length > 0;
}

async function openWithCode(event) {
  event.preventDefault();
  if (busy) return;
  let digits;
  try {
    digits = normaliseReceiptCode(codeInput.value);
  } catch {
    codeStatus.textContent = ui.return_bad_code;
    codeInput.setAttribute("aria-invalid", "true");
    codeInput.focus();
    return;
  }
  codeInput.removeAttribute("aria-invalid");
  busy = true;
  openButton.disabled = true;
  codeStatus.textContent = ui.return_working;
  try {
    const derived = await deriveWitnessKeys(digits);
    const found = await fetchWitnessView(derived);
    if (found.submissions.length === 0) {
      codeStatus.textContent = ui.return_unknown;
      return;
    }
    keys = derived;
    showSubmissions(found.submissions);
    codeInput.value = ""; // the code is not left on the screen
    codeStatus.textContent = "";
    codeForm.hidden = true;
    showReplies(found.replies);
    view.hidden = false;
    byId("replies-heading").focus();
  } catch {
    codeStatus.textContent = ui.return_failed;
  } finally {
    busy = false;
    openButton.disabled = false;
  }
}

function setProgress(text, fraction) {
  progressBox.hidden = false;
  followupStatus.textContent = text;
  if (fraction === undefined) progressBar.removeAttribute("value");
  else progressBar.value = Math.max(0, Math.min(1, fraction));
}

async function sendFollowup(event) {
  event.preventDefault();
  if (busy || keys === null) return;
  const text = byId("followup-text").value;
  const picked = [...byId("followup-files").files].map((file) => ({ file, strip: true }));
  if (text.trim() === "" && picked.length === 0) {
    setProgress(ui.return_empty, 0);
    return;
  }
  busy = true;
  sendButton.disabled = true;
  progressBox.classList.remove("failed");
  try {
    setProgress(ui.return_sending, 0);
    const files = await prepareFiles(picked); // photo location data removed, as on the form
    const sealed = await sealFollowup({
      intakePublicKey: b64uDecode(data.intakeKey),
      parent: parentSelect.value,
      text,
      files,
      onProgress: ({ done, total }) => setProgress(ui.return_sending, total ? done / (2 * total) : 0),
    });
    await uploadSealed(sealed, { onProgress: (fraction) => setProgress(ui.return_sending, 0.5 + fraction / 2) });
    // Signed before the proof of work, which the signature does not cover (§7, v1.1).
    const signed = await signFollowup(keys, sealed.request);
    const pow = await proofOfWork();
    if (pow !== null) signed.pow = pow;
    const receipt = await postForReceipt("/api/v1/followups", signed);
    followupForm.reset();
    try {
      await verifyReceipt(receipt, data.logKey, undefined, signed);
    } catch {
      // Logged, but the log's answer does not prove it: say so, as the form page does.
      setProgress(ui.receipt_unverified, 1);
      progressBox.dataset.state = "unverified";
      return;
    }
    setProgress(ui.return_sent, 1);
    progressBox.dataset.state = "sent";
  } catch {
    progressBox.classList.add("failed");
    progressBox.dataset.state = "failed";
    setProgress(ui.return_send_failed, 0);
  } finally {
    busy = false;
    sendButton.disabled = false;
  }
}

installLeave();
codeForm.addEventListener("submit", openWithCode);
followupForm.addEventListener("submit", sendFollowup);
openButton.disabled = false;
document.documentElement.dataset.ready = "true";

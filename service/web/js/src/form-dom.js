/**
 * Reading a rendered form (`service/web/templates/_fields.html`) into
 * `M.answers` and `M.consent` (docs/protocol.md §3, §5), and showing validation
 * problems next to their fields in the witness's language. Used by the
 * form page (`witness-page.js`) and the offline page (`offline-page.js`); the
 * element ids are those the field
 * macros write (`f-<id>`, `c-<id>`, `field-<id>`, `err-<id>`).
 */
import { problemMessage } from "../../../../forms/static/validate.js";
import { withoutLocation } from "./photo-location.js";

export const OTHER = "__other";
export const PLACE_TEXT = "__text";

function byId(id) {
  return document.getElementById(id);
}

function checked(root, name) {
  return Array.from(root.querySelectorAll(`input[name="${CSS.escape(name)}"]`)).filter((input) => input.checked);
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
export function collectAnswers(definition, root = document) {
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
        const [picked] = checked(root, key);
        if (picked) answers[id] = picked.value === OTHER ? { other: byId(`${key}-other`).value } : picked.value;
        break;
      }
      case "multichoice": {
        const values = checked(root, key).map((input) =>
          input.value === OTHER ? { other: byId(`${key}-other`).value } : input.value);
        if (values.length > 0) answers[id] = values;
        break;
      }
      case "place": {
        const [picked] = checked(root, key);
        if (picked) answers[id] = picked.value === PLACE_TEXT ? { text: byId(`${key}-text`).value } : { id: picked.value };
        break;
      }
      case "boolean": {
        const [picked] = checked(root, key);
        if (picked) answers[id] = picked.value === "true";
        break;
      }
      default:
        break; // attachments answers are filled in by sealSubmission from the files
    }
  }
  return answers;
}

/** M.consent from the consent controls (`forms/consent.json`). */
export function collectConsent(root = document) {
  const consent = { share_with: checked(root, "c-share_with").map((input) => input.value) };
  const [contact] = checked(root, "c-contact");
  if (contact) consent.contact = contact.value === "true";
  return consent;
}

/**
 * `[{file, field, strip}]` for every attachments field, in form order: the
 * files picked, then the field's `recordings` (a Map from field id to
 * `[File]`, never stripped).
 */
export function collectFiles(definition, recordings = new Map()) {
  const files = [];
  for (const field of definition.fields) {
    if (field.type !== "attachments") continue;
    const strip = byId(`f-${field.id}-strip`).checked;
    for (const file of byId(`f-${field.id}`).files) files.push({ file, field: field.id, strip });
    for (const file of recordings.get(field.id) ?? []) files.push({ file, field: field.id, strip: false });
  }
  return files;
}

/**
 * The files to seal: location data removed from each one marked `strip`.
 * Rejects with the `SealError` of `withoutLocation` (`malformed-input`) when
 * a photo cannot be read.
 */
export async function prepareFiles(files) {
  const prepared = [];
  for (const entry of files) {
    const cleaned = entry.strip ? (await withoutLocation(entry.file)).file : entry.file;
    prepared.push({ file: cleaned, name: entry.file.name, type: entry.file.type || undefined, field: entry.field });
  }
  return prepared;
}

/**
 * The answers to validate before sealing: attachments answers are only known
 * once the files are sealed, so each file stands as a placeholder blob id.
 * Returns `{checkedAnswers, placeholders}`.
 */
export function placeholderAnswers(definition, answers, files) {
  const placeholders = [];
  const checkedAnswers = { ...answers };
  for (const field of definition.fields) {
    if (field.type !== "attachments") continue;
    const mine = files.filter((entry) => entry.field === field.id).map((_, i) => `pending-${field.id}-${i}`);
    placeholders.push(...mine);
    if (mine.length > 0 || field.required) checkedAnswers[field.id] = mine;
  }
  return { checkedAnswers, placeholders };
}

/** Hide every problem shown in `form` and the summary. */
export function clearProblems(form) {
  const summary = byId("error-summary");
  summary.hidden = true;
  byId("error-list").replaceChildren();
  for (const error of form.querySelectorAll(".error-message")) {
    error.textContent = "";
    error.hidden = true;
  }
  for (const container of form.querySelectorAll(".field-invalid")) container.classList.remove("field-invalid");
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

/**
 * Show `problems` (`[{problem, consent}]`, problems as `validate.js` returns
 * them) next to their fields and in the summary, in `lang` (else `fallback`).
 */
export function showProblems(form, problems, messages, lang, fallback) {
  const summary = byId("error-summary");
  const summaryList = byId("error-list");
  const byField = new Map();
  for (const { problem, consent } of problems) {
    const message = problemMessage(messages, problem, lang, fallback);
    const key = `${consent ? "consent-" : ""}${problem[0] ?? ""}`;
    const entry = byField.get(key) ?? { fieldId: problem[0], messages: [] };
    if (!entry.messages.includes(message)) entry.messages.push(message);
    byField.set(key, entry);
  }
  for (const [key, { fieldId, messages: texts }] of byField) {
    const container = fieldId === null ? null : byId(`field-${key}`);
    const item = document.createElement("li");
    const text = texts.join(" ");
    if (container) {
      container.classList.add("field-invalid");
      const error = byId(`err-${key}`);
      error.textContent = text;
      error.hidden = false;
      for (const input of container.querySelectorAll("input, textarea, select")) input.setAttribute("aria-invalid", "true");
      const link = document.createElement("a");
      link.href = `#${container.dataset.focus}`;
      link.textContent = `${container.dataset.label ?? ""}: ${text}`;
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

/**
 * Show a receipt code in `element` as five groups (one span each, so it
 * wraps only between groups), read aloud digit by digit.
 */
export function showReceiptCode(element, grouped) {
  element.replaceChildren(...grouped.split("-").map((group, i) => {
    const span = document.createElement("span");
    span.className = "code-group";
    span.textContent = i === 0 ? group : `-${group}`;
    return span;
  }));
  element.setAttribute("aria-label", grouped.split("").join(" "));
}

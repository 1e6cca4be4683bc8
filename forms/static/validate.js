// Validate M.answers against a form version in the browser (docs/protocol.md §5).
//
// This module interprets forms/static/rules.json, the table generated from
// forms/rules.py; forms/validate.py interprets the same table in Python, and
// a test requires both to report identical problem lists for the same cases.
// Change a rule in the table, or in both interpreters at once.
//
// A problem is [fieldId or null, code, messageKey]. Order: unknown field ids
// first (sorted by UTF-16 code units), then the form's fields in form order;
// within a field each [code, messageKey] at most once, in order of discovery.
//
// Plain ES module, no dependencies:
//   import { validateAnswers } from "./validate.js";
//   const problems = validateAnswers(rules, definition, answers, blobIds);

const hasOwn = (object, key) => Object.prototype.hasOwnProperty.call(object, key);

function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function keysAre(object, allowed) {
  return Object.keys(object).every((key) => allowed.includes(key));
}

function isNumber(value) {
  return typeof value === "number" && Number.isFinite(value);
}

function codePoints(text) {
  if (text.length <= 1) return text.length;
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

function longerThan(text, max) {
  // A string of at most max UTF-16 units has at most max code points.
  return text.length > max && codePoints(text) > max;
}

class Tables {
  constructor(rules) {
    this.rules = rules;
    this.blank = new Set(rules.blank.map((codePoint) => String.fromCodePoint(codePoint)));
    this.date = new RegExp(`^(?:${rules.patterns.date})$`, "u");
    this.localDatetime = new RegExp(`^(?:${rules.patterns.local_datetime})$`, "u");
  }

  isBlank(text) {
    for (const character of text) if (!this.blank.has(character)) return false;
    return true;
  }

  calendarDate(year, month, day) {
    if (year < this.rules.year_min || month < 1 || month > 12 || day < 1) return false;
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    return day <= [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  }

  // The earliest and latest minute a date or local date-time can mean, or null.
  momentBounds(text) {
    let match = this.localDatetime.exec(text);
    if (match) {
      const [year, month, day, hour, minute] = match.slice(1).map((part) => Number(part));
      if (!this.calendarDate(year, month, day) || hour > 23 || minute > 59) return null;
      return [text, text];
    }
    match = this.date.exec(text);
    if (!match) return null;
    const [yearText, monthText, dayText] = match.slice(1);
    const year = Number(yearText);
    const month = monthText !== undefined ? Number(monthText) : 1;
    const day = dayText !== undefined ? Number(dayText) : 1;
    if (!this.calendarDate(year, month, day)) return null;
    const earliest = `${yearText}-${monthText ?? "01"}-${dayText ?? "01"}T00:00`;
    const latest = `${yearText}-${monthText ?? "12"}-${dayText ?? "31"}T23:59`;
    return [earliest, latest];
  }

  isDate(text) {
    return this.date.test(text) && this.momentBounds(text) !== null;
  }
}

function isOther(value) {
  return isObject(value) && Object.keys(value).length === 1 && hasOwn(value, "other");
}

function* otherText(t, field, rule, text) {
  if (field.other !== true) yield "other-not-allowed";
  else if (typeof text !== "string") yield "wrong-type";
  else if (t.isBlank(text)) yield "empty-text";
  else if (longerThan(text, rule.other_max_length)) yield "too-long";
}

function optionIds(field) {
  return new Set((field.choices ?? field.places ?? []).map((option) => option.id));
}

function coordinateOk(value, bounds) {
  return isNumber(value) && bounds[0] <= value && value <= bounds[1];
}

const CHECKS = {
  *string(t, field, rule, value) {
    if (typeof value !== "string") yield "wrong-type";
    else if (longerThan(value, rule.max_length)) yield "too-long";
  },

  *date(t, field, rule, value) {
    if (typeof value !== "string") yield "wrong-type";
    else if (!t.isDate(value)) yield "bad-date";
  },

  *datetime_range(t, field, rule, value) {
    if (!isObject(value) || Object.keys(value).length !== 2 || !keysAre(value, ["start", "end"])) {
      yield "wrong-type";
      return;
    }
    const { start, end } = value;
    if (typeof start !== "string" || !(end === null || typeof end === "string")) {
      yield "wrong-type";
      return;
    }
    const startBounds = t.momentBounds(start);
    const endBounds = end !== null ? t.momentBounds(end) : null;
    if (startBounds === null || (end !== null && endBounds === null)) {
      yield "bad-date";
      return;
    }
    if (endBounds !== null && endBounds[1] < startBounds[0]) yield "end-before-start";
  },

  *choice(t, field, rule, value) {
    if (typeof value === "string") {
      if (!optionIds(field).has(value)) yield "unknown-choice";
    } else if (isOther(value)) {
      yield* otherText(t, field, rule, value.other);
    } else {
      yield "wrong-type";
    }
  },

  *multichoice(t, field, rule, value) {
    if (!Array.isArray(value)) {
      yield "wrong-type";
      return;
    }
    const ids = optionIds(field);
    const seen = new Set();
    let others = 0;
    for (const item of value) {
      if (typeof item === "string") {
        if (!ids.has(item)) yield "unknown-choice";
        else if (seen.has(item)) yield "duplicate-choice";
        seen.add(item);
      } else if (isOther(item)) {
        others += 1;
        if (others > rule.max_other) yield "too-many-other";
        yield* otherText(t, field, rule, item.other);
      } else {
        yield "wrong-type";
      }
    }
  },

  *place(t, field, rule, value) {
    if (!isObject(value) || !keysAre(value, ["id", "text", "lat", "lon"])) {
      yield "wrong-type";
      return;
    }
    if (hasOwn(value, "id") === hasOwn(value, "text")) {
      yield "wrong-type";
      return;
    }
    if (hasOwn(value, "id")) {
      if (typeof value.id !== "string") yield "wrong-type";
      else if (!optionIds(field).has(value.id)) yield "unknown-place";
    } else {
      const text = value.text;
      if (typeof text !== "string") yield "wrong-type";
      else if (t.isBlank(text)) yield "empty-text";
      else if (longerThan(text, rule.text_max_length)) yield "too-long";
    }
    const hasLat = hasOwn(value, "lat");
    const hasLon = hasOwn(value, "lon");
    if (
      (hasLat || hasLon) &&
      !(hasLat && hasLon && coordinateOk(value.lat, rule.lat) && coordinateOk(value.lon, rule.lon))
    ) {
      yield "bad-coordinates";
    }
  },

  *number(t, field, rule, value) {
    if (!isNumber(value)) yield "wrong-type";
  },

  *boolean(t, field, rule, value) {
    if (typeof value !== "boolean") yield "wrong-type";
  },

  *attachments(t, field, rule, value, blobs) {
    if (!Array.isArray(value)) {
      yield "wrong-type";
      return;
    }
    const seen = new Set();
    for (const item of value) {
      if (typeof item !== "string") yield "wrong-type";
      else if (!blobs.has(item)) yield "unknown-attachment";
      else if (seen.has(item)) yield "duplicate-attachment";
      else seen.add(item);
    }
  },
};

function countsAsMissing(t, rule, value) {
  if (rule.missing === "blank") return typeof value === "string" && t.isBlank(value);
  if (rule.missing === "empty-list") return Array.isArray(value) && value.length === 0;
  return false;
}

function pushOnce(problems, problem) {
  const seen = problems.some(
    (p) => p[0] === problem[0] && p[1] === problem[1] && p[2] === problem[2],
  );
  if (!seen) problems.push(problem);
}

function fieldProblems(t, field, value, blobs) {
  const rule = t.rules.types[field.type];
  const check = CHECKS[rule.check];
  if (check === undefined) throw new Error(`rules: no check named ${rule.check}`);
  const problems = [];
  for (const code of check(t, field, rule, value, blobs)) {
    const key = rule.codes[code];
    if (key === undefined) throw new Error(`rules: no message key for ${field.type} ${code}`);
    pushOnce(problems, [field.id, code, key]);
  }
  if (problems.length === 0 && field.required === true && countsAsMissing(t, rule, value)) {
    problems.push([field.id, "required", t.rules.answers.codes.required]);
  }
  return problems;
}

/**
 * Every problem with `answers` (the parsed JSON of M.answers), in a fixed order.
 * `definition` is the form definition as served; `attachments` the blob ids of
 * M.attachments. Returns [] when the answers are valid.
 */
export function validateAnswers(rules, definition, answers, attachments) {
  const t = new Tables(rules);
  const codes = rules.answers.codes;
  if (!isObject(answers)) return [[null, "wrong-type", codes["wrong-type"]]];
  const known = new Set(definition.fields.map((field) => field.id));
  const problems = Object.keys(answers)
    .filter((key) => !known.has(key))
    .sort()
    .map((key) => [key, "unknown-field", codes["unknown-field"]]);
  const blobs = new Set(attachments.filter((blob) => typeof blob === "string"));
  for (const field of definition.fields) {
    if (!hasOwn(answers, field.id)) {
      if (field.required === true) problems.push([field.id, "required", codes.required]);
      continue;
    }
    problems.push(...fieldProblems(t, field, answers[field.id], blobs));
  }
  return problems;
}

const CONSENT_MEMBERS = ["share_with", "contact", "text_sha256"];
const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Every problem with `consent` (the parsed JSON of M.consent, docs/protocol.md §3):
 * {"share_with": [distinct ids from rules.consent.share_with], "contact": bool,
 * "text_sha256"?: 64 lowercase hex digits (v1.1, the hash of the consent wording
 * shown; its shape only, as forms/consent.py checks it)}. Unknown keys first
 * (sorted), then share_with, contact, text_sha256.
 */
export function validateConsent(rules, consent) {
  const codes = rules.consent.codes;
  if (!isObject(consent)) return [[null, "wrong-type", codes["wrong-type"]]];
  const problems = Object.keys(consent)
    .filter((key) => !CONSENT_MEMBERS.includes(key))
    .sort()
    .map((key) => [key, "unknown-field", codes["unknown-field"]]);
  if (!hasOwn(consent, "share_with")) {
    problems.push(["share_with", "required", codes.required]);
  } else if (!Array.isArray(consent.share_with)) {
    problems.push(["share_with", "wrong-type", codes["wrong-type"]]);
  } else {
    const seen = new Set();
    for (const item of consent.share_with) {
      let code = null;
      if (typeof item !== "string") code = "wrong-type";
      else if (!rules.consent.share_with.includes(item)) code = "unknown-choice";
      else if (seen.has(item)) code = "duplicate-choice";
      seen.add(item);
      if (code !== null) pushOnce(problems, ["share_with", code, codes[code]]);
    }
  }
  if (!hasOwn(consent, "contact")) {
    problems.push(["contact", "required", codes.required]);
  } else if (typeof consent.contact !== "boolean") {
    problems.push(["contact", "wrong-type", codes["wrong-type"]]);
  }
  if (hasOwn(consent, "text_sha256")) {
    const hash = consent.text_sha256;
    if (typeof hash !== "string" || !SHA256_HEX.test(hash)) {
      problems.push(["text_sha256", "wrong-type", codes["wrong-type"]]);
    }
  }
  return problems;
}

/**
 * The witness-facing text of a problem: messages[problem[2]][lang], falling
 * back to `fallback` (e.g. the form's first language), then to the code.
 */
export function problemMessage(messages, problem, lang, fallback) {
  const texts = messages.messages[problem[2]] ?? {};
  return texts[lang] ?? texts[fallback] ?? problem[1];
}

// Runs forms/static/validate.js over a batch of cases for tests/forms/test_validate_js.py.
// usage: node run_validate.mjs VALIDATE_JS RULES_JSON CASES_JSON  -> JSON list of problem lists
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [validatePath, rulesPath, casesPath] = process.argv.slice(2);
const { validateAnswers, validateConsent } = await import(pathToFileURL(validatePath).href);
const rules = JSON.parse(readFileSync(rulesPath, "utf8"));
const batch = JSON.parse(readFileSync(casesPath, "utf8"));
const results = batch.cases.map((item) =>
  item.consent !== undefined
    ? validateConsent(rules, item.consent)
    : validateAnswers(rules, batch.forms[item.form], item.answers, item.attachments),
);
process.stdout.write(JSON.stringify(results));

/**
 * The few requests the witness pages make to their own server (same origin,
 * no credentials, nothing cached).
 */

const OPTIONS = { credentials: "omit", cache: "no-store" };

/** POST `body` as JSON to `path`; resolves to the `201` answer's JSON (a receipt). */
export async function postForReceipt(path, body) {
  const response = await fetch(path, {
    ...OPTIONS,
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (response.status !== 201) throw new Error(`the server answered ${response.status}`);
  return response.json();
}

/** A §8 proof-of-work challenge: `{challenge, bits, expires}`. */
export async function fetchPow() {
  const response = await fetch("/api/v1/pow", OPTIONS);
  if (!response.ok) throw new Error(`the server answered ${response.status}`);
  return response.json();
}

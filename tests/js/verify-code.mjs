// An independent verifier of quietday's signed codes (JWS compact, EdDSA with Ed25519), written
// from RFC 7515 and RFC 8037 alone with Node's own crypto: no quietday code, another language.
// Reads {"jwks": {...}, "tokens": ["..."]} on stdin; writes one {"ok", "payload"|"error"} per token.
import { createPublicKey, verify } from "node:crypto";

const input = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => { text += chunk; });
  process.stdin.on("end", () => resolve(text));
}));

const keys = new Map(input.jwks.keys.map((jwk) => [jwk.kid, createPublicKey({ key: jwk, format: "jwk" })]));

function check(token) {
  const parts = token.split(".");
  if (parts.length !== 3) return { ok: false, error: "not a JWS compact token" };
  const header = JSON.parse(Buffer.from(parts[0], "base64url").toString("utf8"));
  if (header.alg !== "EdDSA") return { ok: false, error: `alg ${header.alg}` };
  const key = keys.get(header.kid);
  if (!key) return { ok: false, error: `unknown kid ${header.kid}` };
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`, "ascii");
  if (!verify(null, signed, key, Buffer.from(parts[2], "base64url"))) {
    return { ok: false, error: "bad signature" };
  }
  return { ok: true, payload: JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8")) };
}

process.stdout.write(JSON.stringify(input.tokens.map((t) => {
  try { return check(t); } catch (e) { return { ok: false, error: String(e) }; }
})));

// The line a job prints: "[YYYY-MM-DD HH:mm:ss] <message>", local time, control characters escaped.

const pad = (value: number): string => String(value).padStart(2, '0');

/** "YYYY-MM-DD HH:mm:ss" in the process's local time zone (TZ). */
export function formatLocalTimestamp(date: Date): string {
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

// C0 controls, DEL, C1 controls and line/paragraph separators (which can break or forge a line), and the
// invisible format characters that can make a line read differently from what it contains (SPEC 5.3): bidi
// marks, overrides and isolates (U+061C, U+200E/200F, U+202A–202E, U+2066–2069), zero-width characters
// (U+200B–200D, U+2060–2064) and U+FEFF; also the other invisible ones that can hide text: the soft hyphen
// (U+00AD), U+180E, the interlinear annotation marks (U+FFF9–FFFB) and the tag characters (U+E0000–E007F).
/* eslint-disable no-control-regex -- matching control characters is the point */
const UNSAFE =
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb\u{e0000}-\u{e007f}]/gu;
/* eslint-enable no-control-regex */
const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

const hex = (code: number, width: number): string => code.toString(16).padStart(width, '0');

function escapeOne(char: string): string {
  const named = NAMED[char];
  if (named) return named;
  const code = char.codePointAt(0)!;
  if (code <= 0xff) return `\\x${hex(code, 2)}`;
  return code <= 0xffff ? `\\u${hex(code, 4)}` : `\\u{${hex(code, 5)}}`;
}

/** Makes a message safe to print as part of one log line: it can neither break the line nor forge one. */
export function escapeControlCharacters(message: string): string {
  return message.replace(UNSAFE, escapeOne);
}

export function formatJobLine(message: string, at: Date): string {
  return `[${formatLocalTimestamp(at)}] ${escapeControlCharacters(message)}`;
}

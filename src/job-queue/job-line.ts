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
// (U+200B–200D, U+2060–2064) and U+FEFF.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;
const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeOne(char: string): string {
  const named = NAMED[char];
  if (named) return named;
  const code = char.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** Makes a message safe to print as part of one log line: it can neither break the line nor forge one. */
export function escapeControlCharacters(message: string): string {
  return message.replace(UNSAFE, escapeOne);
}

export function formatJobLine(message: string, at: Date): string {
  return `[${formatLocalTimestamp(at)}] ${escapeControlCharacters(message)}`;
}

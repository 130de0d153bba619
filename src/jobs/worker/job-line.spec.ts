/* eslint-disable no-control-regex -- the expected outputs are checked for control characters */
import { escapeControlCharacters, formatJobLine, formatLocalTimestamp } from './job-line';

// Built from local components, so the expectations hold in whatever TZ the tests run.
const AT = new Date(2026, 0, 2, 12, 34, 56);

describe('formatLocalTimestamp', () => {
  it('should format a local date as "YYYY-MM-DD HH:mm:ss"', () => {
    expect(formatLocalTimestamp(AT)).toBe('2026-01-02 12:34:56');
  });

  it('should zero-pad every single-digit component', () => {
    expect(formatLocalTimestamp(new Date(2026, 2, 4, 5, 6, 7))).toBe('2026-03-04 05:06:07');
  });

  it('should print midnight as 00:00:00 and the last second of the year as 23:59:59', () => {
    expect(formatLocalTimestamp(new Date(2026, 0, 1, 0, 0, 0))).toBe('2026-01-01 00:00:00');
    expect(formatLocalTimestamp(new Date(2025, 11, 31, 23, 59, 59, 999))).toBe('2025-12-31 23:59:59');
  });
});

describe('formatJobLine', () => {
  it('should print the timestamp in brackets followed by the message', () => {
    expect(formatJobLine('Hello, World!', AT)).toBe('[2026-01-02 12:34:56] Hello, World!');
  });

  it('should escape control characters in the message', () => {
    expect(formatJobLine('a\nb', AT)).toBe('[2026-01-02 12:34:56] a\\nb');
  });

  const tricky = [
    'line one\n[2026-01-02 12:34:56] forged line',
    'carriage\r[2026-01-02 12:34:56] overwritten',
    '\r\n[2026-01-02 12:34:56] forged after CRLF',
    'next line\u0085[2026-01-02 12:34:56] forged',
    'separator\u2028[2026-01-02 12:34:56] forged',
    'paragraph\u2029[2026-01-02 12:34:56] forged',
    'vertical tab\u000b[2026-01-02 12:34:56] forged',
    'form feed\u000c[2026-01-02 12:34:56] forged',
    '\u001b[2K\u001b[1G[2026-01-02 12:34:56] erased and rewritten',
    '\u001b]0;title\u0007',
    '\u202e[2026-01-02 12:34:56] reversed',
    '\n\n\n',
    '\r',
    'x\u0000y',
  ];

  it.each(tricky)('should keep %j on one line that cannot start another entry', (message) => {
    const line = formatJobLine(message, AT);

    expect(line).not.toMatch(/[\n\r\u000b\u000c\u0085\u2028\u2029]/);
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(line.startsWith('[2026-01-02 12:34:56] ')).toBe(true);
    // The forged "[YYYY-MM-DD" only ever appears after escaped text, never at the start of a line.
    expect(line.split(/\r\n|[\n\r\u000b\u000c\u0085\u2028\u2029]/)).toHaveLength(1);
    expect(line.match(/^\[\d{4}-\d{2}-\d{2} /gm)).toHaveLength(1);
  });
});

describe('escapeControlCharacters', () => {
  it.each([
    ['\n', '\\n'],
    ['\r', '\\r'],
    ['\t', '\\t'],
  ])('should escape %j by name', (input, expected) => {
    expect(escapeControlCharacters(`a${input}b`)).toBe(`a${expected}b`);
  });

  it.each([
    ['\u001b', '\\x1b'],
    ['\u0000', '\\x00'],
    ['\u0007', '\\x07'],
    ['\u000b', '\\x0b'],
    ['\u001f', '\\x1f'],
    ['\u007f', '\\x7f'],
    ['\u0080', '\\x80'],
    ['\u0085', '\\x85'],
    ['\u009b', '\\x9b'],
    ['\u009f', '\\x9f'],
  ])('should escape the control character %j as %s', (input, expected) => {
    expect(escapeControlCharacters(`a${input}b`)).toBe(`a${expected}b`);
  });

  it.each([
    ['\u2028', '\\u2028'],
    ['\u2029', '\\u2029'],
    ['\u202a', '\\u202a'],
    ['\u202e', '\\u202e'],
    ['\u2066', '\\u2066'],
    ['\u2069', '\\u2069'],
    ['\u061c', '\\u061c'],
    ['\u200e', '\\u200e'],
    ['\u200f', '\\u200f'],
    ['\u200b', '\\u200b'],
    ['\u200c', '\\u200c'],
    ['\u200d', '\\u200d'],
    ['\u2060', '\\u2060'],
    ['\u2064', '\\u2064'],
    ['\ufeff', '\\ufeff'],
  ])('should escape the separator, bidirectional or invisible format character %j as %s', (input, expected) => {
    expect(escapeControlCharacters(`a${input}b`)).toBe(`a${expected}b`);
  });

  it('should leave the characters next to the escaped ranges unchanged', () => {
    const neighbours = '\u061b\u061d\u200a\u2010\u2027\u202f\u205f\u2065\u206a\ufefe\uff01';
    expect(escapeControlCharacters(neighbours)).toBe(neighbours);
  });

  it.each([
    ['\u00ad', '\\xad'],
    ['\u180e', '\\u180e'],
    ['\ufff9', '\\ufff9'],
    ['\ufffb', '\\ufffb'],
    ['\u{e0001}', '\\u{e0001}'],
    ['\u{e0041}', '\\u{e0041}'],
    ['\u{e007f}', '\\u{e007f}'],
  ])('should escape the invisible character %j, which can hide text, as %s', (input, expected) => {
    expect(escapeControlCharacters(`a${input}b`)).toBe(`a${expected}b`);
  });

  it('should leave the emoji variation selector and characters beyond the tag block alone', () => {
    expect(escapeControlCharacters('\u2764\ufe0f \u{e0080} \u{1f600}')).toBe('\u2764\ufe0f \u{e0080} \u{1f600}');
  });

  it('should escape the zero-width joiner inside an emoji sequence (SPEC 5.3 lists U+200D)', () => {
    expect(escapeControlCharacters('👨\u200d👩')).toBe('👨\\u200d👩');
  });

  it('should escape an ANSI escape sequence so the terminal does not act on it', () => {
    expect(escapeControlCharacters('\u001b[31mred\u001b[0m')).toBe('\\x1b[31mred\\x1b[0m');
  });

  it('should escape every control character of a mixed message', () => {
    expect(escapeControlCharacters('a\r\nb\tc\u0000d\u2028e')).toBe('a\\r\\nb\\tc\\x00d\\u2028e');
  });

  it.each([
    'Hello, World!',
    'こんにちは、世界',
    '😀 emoji 👍🏽 and flag 🇯🇵',
    'C:\\path\\to\\file and a literal \\n',
    'café naïve Ελληνικά עברית العربية',
    ' \u00a0non-breaking space and \u00ff',
    '',
  ])('should leave %j unchanged', (message) => {
    expect(escapeControlCharacters(message)).toBe(message);
  });
});

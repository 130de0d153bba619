/**
 * Whether `text` holds half of a UTF-16 surrogate pair alone (JSON can carry one as "\ud800"): not Unicode text, so
 * no UTF-8 encoder (Redis's Lua JSON decoder, the hash of a tenant's name) can keep it apart from U+FFFD.
 */
export function hasLoneSurrogate(text: string): boolean {
  return /\p{Cs}/u.test(text);
}

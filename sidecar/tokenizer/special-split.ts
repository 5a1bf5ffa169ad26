/** Split text at special-token strings, so the pieces can go to Tokenizer.encodeParts. */
import type { EncodePart } from "./types.ts";

/** A half-open character range [start, end) of the text where special tokens must not be recognised. */
export interface Span {
  start: number;
  end: number;
}

/**
 * Replace every occurrence of a `specials` key in `text` by its id, leftmost
 * first and, at one position, longest first. Occurrences that overlap a span
 * in `protectedSpans` (for example a chat message's content) stay text.
 * Empty text parts are dropped.
 */
export function splitSpecial(
  text: string,
  specials: ReadonlyMap<string, number>,
  protectedSpans: readonly Span[] = [],
): EncodePart[] {
  const keys = [...specials.keys()].filter((k) => k.length > 0).sort((a, b) => b.length - a.length);
  const parts: EncodePart[] = [];
  let textStart = 0;
  let i = 0;
  while (i < text.length) {
    const key = keys.find((k) => text.startsWith(k, i) && !overlaps(i, i + k.length, protectedSpans));
    if (key === undefined) {
      i++;
      continue;
    }
    if (i > textStart) parts.push(text.slice(textStart, i));
    parts.push(specials.get(key)!);
    i += key.length;
    textStart = i;
  }
  if (textStart < text.length) parts.push(text.slice(textStart));
  return parts;
}

function overlaps(start: number, end: number, spans: readonly Span[]): boolean {
  return spans.some((s) => start < s.end && s.start < end);
}

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
 *
 * It runs on the engine's thread for every conversation, so it skips what
 * cannot match without looking: the inside of each protected span (an
 * occurrence starting there overlaps it), and positions whose character
 * starts no key. A 120,000-character message costs what its template's own
 * text costs, not 120,000 tries of every key (Llama 3 has 256).
 */
export function splitSpecial(
  text: string,
  specials: ReadonlyMap<string, number>,
  protectedSpans: readonly Span[] = [],
): EncodePart[] {
  const keys = [...specials.keys()].filter((k) => k.length > 0).sort((a, b) => b.length - a.length);
  const starts = new Set(keys.map((k) => k.charCodeAt(0)));
  const spans = protectedSpans.filter((s) => s.end > s.start).sort((a, b) => a.start - b.start); // to skip
  const parts: EncodePart[] = [];
  let textStart = 0;
  let i = 0;
  let next = 0; // the first span that does not end at or before i
  while (i < text.length) {
    while (next < spans.length && spans[next]!.end <= i) next++;
    if (next < spans.length && spans[next]!.start <= i) {
      i = spans[next]!.end;
      continue;
    }
    const key = starts.has(text.charCodeAt(i)) ? keys.find((k) => text.startsWith(k, i) && !overlaps(i, i + k.length, protectedSpans)) : undefined;
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

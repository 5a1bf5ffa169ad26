/**
 * What one Hugging Face vocabulary piece contributes to the output bytes,
 * read off tokenizer.json's `decoder` section. Supported decoders: Sequence,
 * Replace (string patterns), ByteFallback, Fuse, Strip, Metaspace, ByteLevel.
 * The whole-sequence steps (Fuse, Strip of the first space) are not per-piece:
 * Strip/Metaspace only set `stripSpaceAfterBos`.
 */
import { byteFallbackValue, utf8 } from "./bytes.ts";

/** A decoder config node from tokenizer.json (only the fields used here). */
export interface DecoderJson {
  type: string;
  decoders?: DecoderJson[];
  pattern?: { String?: string; Regex?: string };
  content?: string;
  start?: number;
  replacement?: string;
  add_prefix_space?: boolean;
  prepend_scheme?: string;
}

export interface PieceDecoder {
  /** Bytes of an ordinary (non-added) vocabulary piece. */
  bytes(piece: string): Uint8Array;
  /** Whether the decoder strips one leading space from the start of the text. */
  stripSpaceAfterBos: boolean;
}

export function pieceDecoder(decoder: DecoderJson | null | undefined): PieceDecoder {
  const steps = flatten(decoder);
  const replaces: Array<[string, string]> = [];
  let byteFallback = false;
  let byteLevel = false;
  let strip = false;
  for (const step of steps) {
    switch (step.type) {
      case "Replace":
        if (step.pattern?.String === undefined) throw new Error("tokenizer.json: Replace decoder with a regex pattern is not supported");
        replaces.push([step.pattern.String, step.content ?? ""]);
        break;
      case "ByteFallback":
        byteFallback = true;
        break;
      case "Fuse":
        break;
      case "Strip":
        if ((step.content ?? " ") === " " && (step.start ?? 0) >= 1) strip = true;
        break;
      case "Metaspace":
        replaces.push([step.replacement ?? "\u2581", " "]);
        if (step.add_prefix_space ?? (step.prepend_scheme ?? "always") !== "never") strip = true;
        break;
      case "ByteLevel":
        byteLevel = true;
        break;
      default:
        throw new Error(`tokenizer.json: decoder type ${step.type} is not supported (supported: Sequence, Replace, ByteFallback, Fuse, Strip, Metaspace, ByteLevel)`);
    }
  }
  const bytes = (piece: string): Uint8Array => {
    if (byteFallback) {
      const b = byteFallbackValue(piece);
      if (b !== undefined) return Uint8Array.of(b);
    }
    if (byteLevel) return byteLevelBytes(piece);
    let text = piece;
    for (const [from, to] of replaces) text = text.split(from).join(to);
    return utf8(text);
  };
  return { bytes, stripSpaceAfterBos: strip };
}

function flatten(d: DecoderJson | null | undefined): DecoderJson[] {
  if (!d) return [];
  if (d.type === "Sequence") return (d.decoders ?? []).flatMap(flatten);
  return [d];
}

/** GPT-2's bytes_to_unicode, inverted: code unit of the printable stand-in (all < 0x144) -> byte, or -1. */
const BYTE_LEVEL_INVERSE: Int16Array = (() => {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const table = new Int16Array(0x200).fill(-1);
  let n = 0;
  for (let b = 0; b < 256; b++) table[printable(b) ? b : 256 + n++] = b;
  return table;
})();

function byteLevelBytes(piece: string): Uint8Array {
  const out = new Uint8Array(piece.length);
  for (let i = 0; i < piece.length; i++) {
    const b = BYTE_LEVEL_INVERSE[piece.charCodeAt(i)] ?? -1;
    if (b < 0) return utf8(piece); // not a byte-level piece (should not happen): its text
    out[i] = b;
  }
  return out;
}

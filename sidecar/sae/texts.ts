/**
 * Text inputs for SAE training: read prompts or documents from .txt / .json /
 * .jsonl / .csv files, and drop texts too close to a held-out set.
 *
 * - `.txt`: one text per line (blank lines skipped).
 * - `.json`: an array of strings or of objects; `.jsonl`: one string or
 *   object per line. `.csv`: a header row, RFC 4180 quoting.
 * - From an object or CSV row the text is the first field present (case-
 *   insensitively) of TEXT_FIELDS, or the field the caller names.
 */
import { readFileSync } from "node:fs";
import { extname } from "node:path";

/** Field names tried, in order, for the text of a JSON object or CSV row. */
export const TEXT_FIELDS = ["prompt", "instruction", "goal", "behavior", "forbidden_prompt", "question", "text", "input", "query", "content"];

/** Parses CSV text (RFC 4180: quoted fields, "" escapes, newlines inside quotes) into rows of fields. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      field = "";
      if (row.length > 1 || row[0] !== "") rows.push(row);
      row = [];
    } else field += ch;
  }
  if (field !== "" || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

function pickField(keys: string[], field: string | undefined, file: string): string {
  const lower = keys.map((k) => k.toLowerCase());
  const wanted = field ? [field.toLowerCase()] : TEXT_FIELDS;
  for (const w of wanted) {
    const at = lower.indexOf(w);
    if (at >= 0) return keys[at];
  }
  throw new Error(`${file}: no ${field ? `field "${field}"` : `text field (tried ${TEXT_FIELDS.join(", ")})`}; fields are ${keys.join(", ")}`);
}

function textOf(item: unknown, field: string | undefined, file: string, where: string): string {
  if (typeof item === "string") return item;
  if (item && typeof item === "object" && !Array.isArray(item)) {
    const obj = item as Record<string, unknown>;
    const key = pickField(Object.keys(obj), field, `${file} ${where}`);
    const v = obj[key];
    if (typeof v !== "string") throw new Error(`${file} ${where}: field "${key}" is not a string`);
    return v;
  }
  throw new Error(`${file} ${where}: expected a string or an object, got ${JSON.stringify(item)?.slice(0, 60)}`);
}

/** Reads the texts of one input file (see the header for formats). Empty texts are dropped. */
export function readTexts(file: string, opts: { field?: string } = {}): string[] {
  let raw: string;
  try {
    raw = readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`${file}: cannot read (${(e as Error).message})`);
  }
  const ext = extname(file).toLowerCase();
  let texts: string[];
  switch (ext) {
    case ".txt":
      texts = raw.split(/\r?\n/);
      break;
    case ".json": {
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch (e) {
        throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
      }
      if (!Array.isArray(json)) throw new Error(`${file}: expected a JSON array of strings or objects`);
      texts = json.map((item, i) => textOf(item, opts.field, file, `item ${i}`));
      break;
    }
    case ".jsonl":
      texts = raw.split(/\r?\n/).flatMap((line, i) => {
        if (line.trim() === "") return [];
        let item: unknown;
        try {
          item = JSON.parse(line);
        } catch (e) {
          throw new Error(`${file} line ${i + 1}: not valid JSON (${(e as Error).message})`);
        }
        return [textOf(item, opts.field, file, `line ${i + 1}`)];
      });
      break;
    case ".csv": {
      const rows = parseCsv(raw);
      if (rows.length === 0) return [];
      const header = rows[0];
      const col = header.indexOf(pickField(header, opts.field, file));
      texts = rows.slice(1).map((r) => r[col] ?? "");
      break;
    }
    default:
      throw new Error(`${file}: unsupported input type "${ext}" (use .txt, .json, .jsonl or .csv)`);
  }
  return texts.map((t) => t.trim()).filter((t) => t.length > 0);
}

function words(text: string): Set<string> {
  return new Set(text.toLowerCase().match(/[a-z0-9']+/g) ?? []);
}

/**
 * Drops texts whose word set has Jaccard similarity >= `threshold` with any
 * text of `exclude` (exact duplicates after lower-casing have similarity 1).
 * Returns the kept texts and how many were dropped.
 */
export function excludeNear(texts: string[], exclude: string[], threshold = 0.6): { kept: string[]; dropped: number } {
  const ex = exclude.map(words).filter((s) => s.size > 0);
  const kept: string[] = [];
  for (const t of texts) {
    const w = words(t);
    let near = false;
    for (const e of ex) {
      let inter = 0;
      const [small, big] = w.size < e.size ? [w, e] : [e, w];
      for (const x of small) if (big.has(x)) inter++;
      const union = w.size + e.size - inter;
      if (union > 0 && inter / union >= threshold) {
        near = true;
        break;
      }
    }
    if (!near) kept.push(t);
  }
  return { kept, dropped: texts.length - kept.length };
}

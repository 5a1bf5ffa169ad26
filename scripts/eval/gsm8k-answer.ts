/**
 * GSM8K answer extraction and exact match.
 *
 * Gold: the text after "####" in the dataset's answer field.
 * Prediction, first rule that fires:
 *   1. "#### X" (the dataset's own format);
 *   2. "the answer is X" / "answer: X" (the last such phrase);
 *   3. the last number in the text.
 * Numbers are normalised: thousands commas, "$", "%" and a trailing sentence
 * period dropped, "-" / "−" kept as the sign, decimals compared numerically
 * (so "5.00" equals "5").
 */
const NUM = String.raw`[-−]?\$?\s?[-−]?\d[\d,]*(?:\.\d+)?|[-−]?\$?\.\d+`;

/** A number's canonical string ("1,234" -> "1234", "$5.00" -> "5", "-3.50" -> "-3.5"), or undefined. */
export function normalizeNumber(raw: string): string | undefined {
  let s = raw.trim().replace(/−/g, "-").replace(/[$,%\s]/g, "");
  s = s.replace(/\.$/, "");
  let neg = false;
  while (s.startsWith("-")) {
    neg = !neg;
    s = s.slice(1);
  }
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(s)) return undefined;
  const v = Number(s);
  if (!Number.isFinite(v)) return undefined;
  const out = String(neg ? -v : v);
  return out === "-0" ? "0" : out;
}

function lastNumber(text: string): string | undefined {
  const all = [...text.matchAll(new RegExp(NUM, "g"))];
  for (let i = all.length - 1; i >= 0; i--) {
    const n = normalizeNumber(all[i]![0]);
    if (n !== undefined) return n;
  }
  return undefined;
}

/** The predicted answer in a model's response, normalised, or undefined when it gives none. */
export function extractAnswer(text: string): string | undefined {
  const hash = [...text.matchAll(/####\s*([^\n]*)/g)].pop();
  if (hash) {
    const n = lastNumber(hash[1]!.split(/\s(?=[A-Za-z])/)[0]!) ?? lastNumber(hash[1]!);
    if (n !== undefined) return n;
  }
  const phrase = [...text.matchAll(/(?:the (?:final )?answer is|answer:)\s*([^\n]*)/gi)].pop();
  if (phrase) {
    const first = phrase[1]!.match(new RegExp(NUM));
    const n = first ? normalizeNumber(first[0]) : undefined;
    if (n !== undefined) return n;
  }
  return lastNumber(text);
}

/** The gold answer of a GSM8K `answer` field (after "####"). */
export function goldAnswer(answerField: string): string {
  const m = answerField.match(/####\s*(.+)\s*$/);
  const n = m ? normalizeNumber(m[1]!) : undefined;
  if (n === undefined) throw new Error(`GSM8K answer without a "#### number": ${answerField.slice(-60)}`);
  return n;
}

export function isCorrect(response: string, gold: string): boolean {
  const pred = extractAnswer(response);
  return pred !== undefined && Number(pred) === Number(gold);
}

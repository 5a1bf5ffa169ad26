/**
 * The held-out benign conversations: seeded, of BENIGN_DIALOGUE_TURNS user
 * turns each drawn from the held-out benign instructions and questions (never
 * a training text), with assistant turns between them.
 */
import { describe, expect, it } from "vitest";
import { BENIGN_DIALOGUES, BENIGN_DIALOGUE_TURNS, heldOutGroups, LONG_BENIGN_DIALOGUES, LONG_BENIGN_DIALOGUE_TURNS } from "./held-out-groups.ts";
import { DEFAULT_DATA_DIR } from "./paths.ts";

describe("heldOutGroups' benign conversations", () => {
  const a = heldOutGroups(DEFAULT_DATA_DIR, 0);

  it("draws every user turn from the held-out benign pool, with assistant turns between", () => {
    const pool = new Set([...a.benignInstructions, ...a.gsm8k, ...a.capability].map((x) => x.text));
    for (const [dialogues, n, turns] of [[a.benignDialogues, BENIGN_DIALOGUES, BENIGN_DIALOGUE_TURNS], [a.longBenignDialogues, LONG_BENIGN_DIALOGUES, LONG_BENIGN_DIALOGUE_TURNS]] as const) {
      expect(dialogues).toHaveLength(n);
      for (const d of dialogues) {
        expect(d.label).toBe(0);
        expect(d.messages.map((m) => m.role)).toEqual(Array.from({ length: 2 * turns - 1 }, (_, i) => (i % 2 ? "assistant" : "user")));
        for (const m of d.messages.filter((m) => m.role === "user")) expect(pool.has(m.content as string)).toBe(true);
      }
    }
    expect(a.longBenignDialogues[0]).not.toEqual(a.benignDialogues[0]); // drawn from a stream of their own
    // not one text repeated everywhere: the draws spread over the pool
    expect(new Set(a.benignDialogues.flatMap((d) => d.messages.filter((m) => m.role === "user").map((m) => m.content))).size).toBeGreaterThan(2_500);
  });

  it("is the same for a seed and differs across seeds", () => {
    const again = heldOutGroups(DEFAULT_DATA_DIR, 0);
    expect([again.benignDialogues, again.longBenignDialogues]).toEqual([a.benignDialogues, a.longBenignDialogues]);
    expect(heldOutGroups(DEFAULT_DATA_DIR, 1).benignDialogues).not.toEqual(a.benignDialogues);
  });
});

/**
 * The held-out benign conversations: seeded, of BENIGN_DIALOGUE_TURNS user
 * turns each drawn from the held-out benign instructions and questions (never
 * a training text), with assistant turns between them.
 */
import { describe, expect, it } from "vitest";
import { BENIGN_DIALOGUES, BENIGN_DIALOGUE_TURNS, heldOutGroups } from "./held-out-groups.ts";
import { DEFAULT_DATA_DIR } from "./paths.ts";

describe("heldOutGroups' benign conversations", () => {
  const a = heldOutGroups(DEFAULT_DATA_DIR, 0);

  it("draws every user turn from the held-out benign pool, with assistant turns between", () => {
    const pool = new Set([...a.benignInstructions, ...a.gsm8k, ...a.capability].map((x) => x.text));
    expect(a.benignDialogues).toHaveLength(BENIGN_DIALOGUES);
    for (const d of a.benignDialogues) {
      expect(d.label).toBe(0);
      expect(d.messages.map((m) => m.role)).toEqual(Array.from({ length: 2 * BENIGN_DIALOGUE_TURNS - 1 }, (_, i) => (i % 2 ? "assistant" : "user")));
      for (const m of d.messages.filter((m) => m.role === "user")) expect(pool.has(m.content as string)).toBe(true);
    }
    // not one text repeated everywhere: the draws spread over the pool
    expect(new Set(a.benignDialogues.flatMap((d) => d.messages.filter((m) => m.role === "user").map((m) => m.content))).size).toBeGreaterThan(2_500);
  });

  it("is the same for a seed and differs across seeds", () => {
    expect(heldOutGroups(DEFAULT_DATA_DIR, 0).benignDialogues).toEqual(a.benignDialogues);
    expect(heldOutGroups(DEFAULT_DATA_DIR, 1).benignDialogues).not.toEqual(a.benignDialogues);
  });
});

import { describe, expect, it } from "vitest";
import { tokensPerDay, totalsBy } from "./usage";
import type { UsageRow } from "./types";

const row = (user: string, model: string, day: string, p: number, c: number): UsageRow => ({
  user_id: user,
  model,
  day,
  requests: 1,
  prompt_tokens: p,
  completion_tokens: c,
  cost: 0.5,
});

describe("usage", () => {
  const rows = [row("u1", "a", "2026-11-01", 10, 5), row("u2", "a", "2026-11-03", 1, 1), row("u1", "b", "2026-11-03", 100, 0)];

  it("totals by a key, largest first", () => {
    expect(totalsBy(rows, (r) => r.user_id)).toEqual([
      { key: "u1", requests: 2, tokens: 115, cost: 1 },
      { key: "u2", requests: 1, tokens: 2, cost: 0.5 },
    ]);
  });

  it("fills the days without usage", () => {
    expect(tokensPerDay(rows)).toEqual([
      { day: "2026-11-01", tokens: 15 },
      { day: "2026-11-02", tokens: 0 },
      { day: "2026-11-03", tokens: 102 },
    ]);
  });
});

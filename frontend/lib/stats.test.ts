import { describe, expect, it } from "vitest";
import { type Percentiles, dailySeries, formatFigure, latencyRows } from "./stats";

const totals = { requests: 1, prompt_tokens: 10, completion_tokens: 5, cost: 0.25 };
const none: Percentiles = { count: 0, p50: null, p95: null, p99: null };

describe("stats", () => {
  it("fills every day of the window, oldest first", () => {
    const series = dailySeries([{ day: "2026-11-25", ...totals }], 3, "2026-11-26");
    expect(series).toEqual([
      { day: "2026-11-24", prompt: 0, completion: 0, cost: 0 },
      { day: "2026-11-25", prompt: 10, completion: 5, cost: 0.25 },
      { day: "2026-11-26", prompt: 0, completion: 0, cost: 0 },
    ]);
  });

  it("crosses month ends", () => {
    expect(dailySeries([], 2, "2026-12-01").map((p) => p.day)).toEqual(["2026-11-30", "2026-12-01"]);
  });

  it("formats percentiles", () => {
    expect(formatFigure(null, "ms")).toBe("—");
    expect(formatFigure(42.4, "ms")).toBe("42 ms");
    expect(formatFigure(1500, "ms")).toBe("1.50 s");
    expect(formatFigure(31.26, "tok/s")).toBe("31.3 tok/s");
  });

  it("lists all models first, then each model by name", () => {
    const figures = { ttft_ms: none, tokens_per_s: none };
    const rows = latencyRows({ window: 3, all: figures, by_model: { zeta: figures, alpha: figures } });
    expect(rows.map((r) => r.label)).toEqual(["All models", "alpha", "zeta"]);
  });
});

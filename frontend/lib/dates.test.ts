import { describe, expect, it } from "vitest";
import { groupByDate, groupLabel } from "./dates";

const now = new Date(2026, 10, 26, 10, 0); // 26 Nov 2026, local time

function at(daysAgo: number, hour = 9): string {
  return new Date(2026, 10, 26 - daysAgo, hour).toISOString();
}

describe("groupLabel", () => {
  it("names calendar days, not 24-hour windows", () => {
    expect(groupLabel(new Date(2026, 10, 26, 0, 5), now)).toBe("Today");
    expect(groupLabel(new Date(2026, 10, 25, 23, 59), now)).toBe("Yesterday");
    expect(groupLabel(new Date(2026, 10, 19, 12), now)).toBe("Previous 7 days");
    expect(groupLabel(new Date(2026, 10, 18, 12), now)).toBe("Previous 30 days");
    expect(groupLabel(new Date(2026, 5, 1), now)).toBe("June");
    expect(groupLabel(new Date(2025, 5, 1), now)).toBe("June 2025");
  });
});

describe("groupByDate", () => {
  it("puts pinned first, then groups newest first", () => {
    const items = [
      { id: "old", updated_at: at(3) },
      { id: "today-early", updated_at: at(0, 8) },
      { id: "pinned", updated_at: at(40), pinned: true },
      { id: "yesterday", updated_at: at(1) },
      { id: "today-late", updated_at: at(0, 9) },
    ];
    const groups = groupByDate(items, now);
    expect(groups.map((g) => [g.label, g.items.map((i) => i.id)])).toEqual([
      ["Pinned", ["pinned"]],
      ["Today", ["today-late", "today-early"]],
      ["Yesterday", ["yesterday"]],
      ["Previous 7 days", ["old"]],
    ]);
  });
});

// Usage rows (per user, model and day) folded into what the admin page shows.
import type { UsageRow } from "./types";

export interface UsageTotal {
  key: string;
  requests: number;
  tokens: number;
  cost: number;
}

export function totalsBy(rows: UsageRow[], key: (row: UsageRow) => string): UsageTotal[] {
  const totals = new Map<string, UsageTotal>();
  for (const row of rows) {
    const k = key(row);
    const total = totals.get(k) ?? { key: k, requests: 0, tokens: 0, cost: 0 };
    total.requests += row.requests;
    total.tokens += row.prompt_tokens + row.completion_tokens;
    total.cost += row.cost;
    totals.set(k, total);
  }
  return [...totals.values()].sort((a, b) => b.tokens - a.tokens);
}

/** Tokens per day, oldest first, every day between the first and last present. */
export function tokensPerDay(rows: UsageRow[]): { day: string; tokens: number }[] {
  const byDay = new Map<string, number>();
  for (const row of rows) byDay.set(row.day, (byDay.get(row.day) ?? 0) + row.prompt_tokens + row.completion_tokens);
  const days = [...byDay.keys()].sort();
  if (!days.length) return [];
  const out: { day: string; tokens: number }[] = [];
  const end = new Date(`${days[days.length - 1]}T00:00:00Z`);
  for (let d = new Date(`${days[0]}T00:00:00Z`); d <= end; d.setUTCDate(d.getUTCDate() + 1)) {
    const day = d.toISOString().slice(0, 10);
    out.push({ day, tokens: byDay.get(day) ?? 0 });
  }
  return out;
}

// `GET /api/stats` (the gateway, admins): shapes and what the admin page draws from them.

export interface UsageTotals {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost: number;
}

export interface Percentiles {
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface LatencyFigures {
  ttft_ms: Percentiles;
  tokens_per_s: Percentiles;
}

export interface StatsWorker {
  worker_id: string;
  models: string[];
  capacity: number;
  free_slots: number;
  stopping: boolean;
}

export interface Stats {
  usage: {
    by_day: (UsageTotals & { day: string })[];
    by_model: (UsageTotals & { model: string })[];
    by_user: (UsageTotals & { user_id: string })[];
  };
  usage_error: string | null;
  latency: { window: number; all: LatencyFigures; by_model: Record<string, LatencyFigures> };
  workers: StatsWorker[];
  generations_in_flight: number;
  queues: { model: string; queue: string; ready: number | null }[];
  days: number;
  generated_at: string;
}

export interface DayPoint {
  day: string;
  prompt: number;
  completion: number;
  cost: number;
}

/** Every one of the last `days` days up to `today` (UTC, `YYYY-MM-DD`), oldest first, zero where nothing was used. */
export function dailySeries(rows: Stats["usage"]["by_day"], days: number, today: string): DayPoint[] {
  const byDay = new Map(rows.map((r) => [r.day, r]));
  const out: DayPoint[] = [];
  const end = new Date(`${today}T00:00:00Z`);
  for (let i = days - 1; i >= 0; i--) {
    const day = new Date(end.getTime() - i * 86_400_000).toISOString().slice(0, 10);
    const row = byDay.get(day);
    out.push({ day, prompt: row?.prompt_tokens ?? 0, completion: row?.completion_tokens ?? 0, cost: row?.cost ?? 0 });
  }
  return out;
}

/** A percentile for people: "—" when there is none yet. */
export function formatFigure(value: number | null | undefined, unit: "ms" | "tok/s"): string {
  if (value == null || !Number.isFinite(value)) return "—";
  if (unit === "ms") return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
  return `${value.toFixed(1)} tok/s`;
}

/** Latency rows: all models first, then each model by name. */
export function latencyRows(latency: Stats["latency"]): { label: string; figures: LatencyFigures }[] {
  const models = Object.keys(latency.by_model ?? {}).sort();
  return [{ label: "All models", figures: latency.all }, ...models.map((m) => ({ label: m, figures: latency.by_model[m]! }))];
}

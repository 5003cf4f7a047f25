"use client";
import { useEffect, useMemo, useState } from "react";
import { ApiError } from "@/lib/api";
import { type Percentiles, type Stats, dailySeries, formatFigure, latencyRows } from "@/lib/stats";
import type { User } from "@/lib/types";
import { cn, formatNumber } from "@/lib/utils";
import { useApp } from "./providers";

function errorText(error: unknown): string {
  return error instanceof ApiError ? error.message : "Something went wrong. Please try again.";
}

function BarChart({ label, data, format }: { label: string; data: { day: string; value: number }[]; format: (v: number) => string }) {
  const max = Math.max(0, ...data.map((d) => d.value));
  return (
    <figure className="space-y-1">
      <figcaption className="text-xs font-medium text-muted-foreground">
        {label} (peak {format(max)})
      </figcaption>
      <div className="flex h-32 items-end gap-px" role="img" aria-label={label}>
        {data.map((d) => (
          <div key={d.day} className="flex h-full flex-1 flex-col justify-end" title={`${d.day}: ${format(d.value)}`}>
            <div className="w-full rounded-t bg-ring" style={{ height: `${max ? (d.value / max) * 100 : 0}%`, minHeight: d.value ? 2 : 0 }} />
          </div>
        ))}
      </div>
      <div className="flex justify-between text-[10px] text-muted-foreground">
        <span>{data[0]?.day.slice(5)}</span>
        <span>{data[data.length - 1]?.day.slice(5)}</span>
      </div>
    </figure>
  );
}

function TotalsTable({ title, rows }: { title: string; rows: { key: string; requests: number; prompt_tokens: number; completion_tokens: number; cost: number }[] }) {
  return (
    <table className="w-full text-sm" aria-label={title}>
      <thead className="text-left text-muted-foreground">
        <tr>
          <th className="py-1 font-medium">{title}</th>
          <th className="py-1 text-right font-medium">Requests</th>
          <th className="py-1 text-right font-medium">Tokens in · out</th>
          <th className="py-1 text-right font-medium">Cost</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((t) => (
          <tr key={t.key} className="border-t border-border tabular-nums">
            <td className="max-w-48 truncate py-1.5" title={t.key}>{t.key}</td>
            <td className="py-1.5 text-right">{formatNumber(t.requests)}</td>
            <td className="py-1.5 text-right">
              {formatNumber(t.prompt_tokens)} · {formatNumber(t.completion_tokens)}
            </td>
            <td className="py-1.5 text-right">{formatNumber(t.cost, 4)}</td>
          </tr>
        ))}
        {!rows.length && (
          <tr>
            <td colSpan={4} className="py-2 text-muted-foreground">No usage in this period.</td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

function Figure({ label, value, alert = false }: { label: string; value: string; alert?: boolean }) {
  return (
    <div className="rounded-lg border border-border px-3 py-2" data-testid={`figure-${label.toLowerCase().replace(/\W+/g, "-")}`}>
      <div className="text-xs text-muted-foreground">{label}</div>
      <div className={cn("text-xl font-semibold tabular-nums", alert && "text-destructive")}>{value}</div>
    </div>
  );
}

export function useStats(days: number): { stats: Stats | null; error: string | null } {
  const { api } = useApp();
  const [stats, setStats] = useState<Stats | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let cancelled = false;
    const load = async () => {
      try {
        const out = await api.request<Stats>("GET", `/api/stats?days=${days}`);
        if (!cancelled) {
          setStats(out);
          setError(null);
        }
      } catch (caught) {
        if (!cancelled) setError(errorText(caught));
      }
    };
    void load();
    const timer = window.setInterval(load, 10_000);
    return () => {
      cancelled = true;
      window.clearInterval(timer);
    };
  }, [api, days]);
  return { stats, error };
}

export function Usage({ stats, users }: { stats: Stats; users: User[] }) {
  const emails = useMemo(() => new Map(users.map((u) => [u.id, u.email])), [users]);
  const series = useMemo(() => dailySeries(stats.usage.by_day, stats.days, stats.generated_at.slice(0, 10)), [stats]);
  const total = stats.usage.by_day.reduce(
    (sum, d) => ({ tokens: sum.tokens + d.prompt_tokens + d.completion_tokens, cost: sum.cost + d.cost, requests: sum.requests + d.requests }),
    { tokens: 0, cost: 0, requests: 0 },
  );
  return (
    <div className="space-y-6">
      {stats.usage_error && <p role="alert" className="text-sm text-destructive">Usage is unavailable: {stats.usage_error}</p>}
      <div className="grid grid-cols-3 gap-3">
        <Figure label="Requests" value={formatNumber(total.requests)} />
        <Figure label="Tokens" value={formatNumber(total.tokens)} />
        <Figure label="Cost" value={formatNumber(total.cost, 2)} />
      </div>
      <div className="grid gap-6 md:grid-cols-2">
        <BarChart label="Tokens per day" data={series.map((d) => ({ day: d.day, value: d.prompt + d.completion }))} format={(v) => formatNumber(v)} />
        <BarChart label="Cost per day" data={series.map((d) => ({ day: d.day, value: d.cost }))} format={(v) => formatNumber(v, 4)} />
      </div>
      <div className="grid gap-6 md:grid-cols-2">
        <TotalsTable title="User" rows={stats.usage.by_user.map((r) => ({ ...r, key: emails.get(r.user_id) ?? r.user_id }))} />
        <TotalsTable title="Model" rows={stats.usage.by_model.map((r) => ({ ...r, key: r.model }))} />
      </div>
    </div>
  );
}

export function Latency({ latency }: { latency: Stats["latency"] }) {
  const cells = (p: Percentiles, unit: "ms" | "tok/s") =>
    (["p50", "p95", "p99"] as const).map((k) => (
      <td key={k} className="py-1.5 text-right">
        {formatFigure(p[k], unit)}
      </td>
    ));
  return (
    <div className="overflow-x-auto">
      <table className="w-full text-sm" aria-label="Latency">
        <thead className="text-left text-muted-foreground">
          <tr>
            <th className="py-1 font-medium">Model</th>
            <th className="py-1 text-right font-medium">Answers</th>
            <th className="py-1 text-right font-medium">TTFT p50</th>
            <th className="py-1 text-right font-medium">p95</th>
            <th className="py-1 text-right font-medium">p99</th>
            <th className="py-1 text-right font-medium">tok/s p50</th>
            <th className="py-1 text-right font-medium">p95</th>
            <th className="py-1 text-right font-medium">p99</th>
          </tr>
        </thead>
        <tbody>
          {latencyRows(latency).map(({ label, figures }) => (
            <tr key={label} className="border-t border-border tabular-nums">
              <td className="py-1.5">{label}</td>
              <td className="py-1.5 text-right">{figures.ttft_ms.count}</td>
              {cells(figures.ttft_ms, "ms")}
              {cells(figures.tokens_per_s, "tok/s")}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function Live({ stats }: { stats: Stats }) {
  return (
    <div className="space-y-4">
      <div className="grid grid-cols-2 gap-3 sm:grid-cols-3">
        <Figure label="Live workers" value={String(stats.workers.filter((w) => !w.stopping).length)} />
        <Figure label="Generations in flight" value={String(stats.generations_in_flight)} />
        <Figure label="Queued prompts" value={String(stats.queues.reduce((n, q) => n + (q.ready ?? 0), 0))} />
      </div>
      <div className="grid gap-6 md:grid-cols-2">
        <table className="w-full text-sm" aria-label="Live workers">
          <thead className="text-left text-muted-foreground">
            <tr>
              <th className="py-1 font-medium">Worker</th>
              <th className="py-1 font-medium">Models</th>
              <th className="py-1 text-right font-medium">Busy / capacity</th>
            </tr>
          </thead>
          <tbody>
            {stats.workers.map((w) => (
              <tr key={w.worker_id} className="border-t border-border tabular-nums">
                <td className="py-1.5">
                  {w.worker_id}
                  {w.stopping && <span className="ml-1 text-muted-foreground">(stopping)</span>}
                </td>
                <td className="py-1.5">{w.models.join(", ")}</td>
                <td className={cn("py-1.5 text-right", w.free_slots === 0 && "text-destructive")}>
                  {Math.max(w.capacity - w.free_slots, 0)} / {w.capacity}
                </td>
              </tr>
            ))}
            {!stats.workers.length && (
              <tr>
                <td colSpan={3} className="py-2 text-muted-foreground">No live workers.</td>
              </tr>
            )}
          </tbody>
        </table>
        <table className="w-full text-sm" aria-label="Queue depth">
          <thead className="text-left text-muted-foreground">
            <tr>
              <th className="py-1 font-medium">Model</th>
              <th className="py-1 text-right font-medium">Waiting prompts</th>
            </tr>
          </thead>
          <tbody>
            {stats.queues.map((q) => (
              <tr key={q.model} className="border-t border-border tabular-nums">
                <td className="py-1.5">{q.model}</td>
                <td className={cn("py-1.5 text-right", (q.ready ?? 0) > 0 && "text-destructive")}>{q.ready ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

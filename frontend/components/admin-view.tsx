"use client";
import { useCallback, useEffect, useMemo, useState } from "react";
import { ApiError } from "@/lib/api";
import type { ModelInfo, UsageRow, User } from "@/lib/types";
import { tokensPerDay, totalsBy } from "@/lib/usage";
import { cn, formatNumber } from "@/lib/utils";
import { PageFrame, Section } from "./page-frame";
import { useApp } from "./providers";
import { useModels } from "./use-models";
import { Button } from "./ui/button";
import { Input, Select } from "./ui/input";

function errorText(error: unknown): string {
  return error instanceof ApiError ? error.message : "Something went wrong. Please try again.";
}

function Users({ onUsers }: { onUsers: (users: User[]) => void }) {
  const { api, user: me } = useApp();
  const [query, setQuery] = useState("");
  const [users, setUsers] = useState<User[]>([]);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      const params = new URLSearchParams({ limit: "100" });
      if (query) params.set("q", query);
      const page = await api.request<{ users: User[]; total: number }>("GET", `/api/auth/users?${params}`);
      setUsers(page.users);
      setTotal(page.total);
      onUsers(page.users);
      setError(null);
    } catch (caught) {
      setError(errorText(caught));
    }
  }, [api, query, onUsers]);

  useEffect(() => {
    const timer = window.setTimeout(() => void load(), 250);
    return () => window.clearTimeout(timer);
  }, [load]);

  async function update(id: string, body: { role?: string; disabled?: boolean }) {
    try {
      const updated = await api.request<User>("PATCH", `/api/auth/users/${id}`, body);
      setUsers((old) => old.map((u) => (u.id === id ? updated : u)));
    } catch (caught) {
      setError(errorText(caught));
    }
  }

  return (
    <div className="space-y-3">
      <Input aria-label="Search users" placeholder="Search by email or name" value={query} onChange={(e) => setQuery(e.target.value)} className="max-w-sm" />
      {error && <p role="alert" className="text-sm text-destructive">{error}</p>}
      <div className="overflow-x-auto">
        <table className="w-full text-sm" aria-label="Users">
          <thead className="text-left text-muted-foreground">
            <tr>
              <th className="py-1 font-medium">User</th>
              <th className="py-1 font-medium">Role</th>
              <th className="py-1 font-medium">Status</th>
              <th className="py-1 font-medium">Joined</th>
            </tr>
          </thead>
          <tbody>
            {users.map((u) => (
              <tr key={u.id} className="border-t border-border">
                <td className="py-2">
                  <div className="font-medium">{u.display_name}</div>
                  <div className="text-muted-foreground">{u.email}</div>
                </td>
                <td className="py-2">
                  <Select aria-label={`Role of ${u.email}`} value={u.role} disabled={u.id === me?.id} onChange={(e) => void update(u.id, { role: e.target.value })} className="w-28">
                    <option value="user">user</option>
                    <option value="admin">admin</option>
                  </Select>
                </td>
                <td className="py-2">
                  <Button
                    size="sm"
                    variant={u.disabled ? "default" : "outline"}
                    disabled={u.id === me?.id}
                    aria-label={`${u.disabled ? "Enable" : "Disable"} ${u.email}`}
                    onClick={() => void update(u.id, { disabled: !u.disabled })}
                  >
                    {u.disabled ? "Enable" : "Disable"}
                  </Button>
                  {u.disabled && <span className="ml-2 text-destructive">disabled</span>}
                </td>
                <td className="py-2">{new Date(u.created_at).toLocaleDateString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="text-xs text-muted-foreground">{total} users</p>
    </div>
  );
}

function BarChart({ data }: { data: { day: string; tokens: number }[] }) {
  const max = Math.max(1, ...data.map((d) => d.tokens));
  return (
    <div className="flex h-40 items-end gap-1" role="img" aria-label="Tokens per day">
      {data.map((d) => (
        <div key={d.day} className="flex h-full max-w-16 flex-1 flex-col items-center gap-1" title={`${d.day}: ${d.tokens} tokens`}>
          <div className="relative w-full flex-1">
            <div className="absolute bottom-0 w-full rounded-t bg-ring" style={{ height: `${(d.tokens / max) * 100}%`, minHeight: d.tokens ? 2 : 0 }} />
          </div>
          <span className="text-[10px] text-muted-foreground">{d.day.slice(5)}</span>
        </div>
      ))}
    </div>
  );
}

function Usage({ users }: { users: User[] }) {
  const { api } = useApp();
  const [rows, setRows] = useState<UsageRow[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const since = new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10);
    api
      .request<{ usage: UsageRow[] }>("GET", `/api/auth/usage?since=${since}&limit=1000`)
      .then((out) => setRows(out.usage))
      .catch((caught) => setError(errorText(caught)));
  }, [api]);
  const emails = useMemo(() => new Map(users.map((u) => [u.id, u.email])), [users]);
  const perUser = totalsBy(rows, (r) => emails.get(r.user_id) ?? r.user_id);
  const perModel = totalsBy(rows, (r) => r.model);
  const daily = tokensPerDay(rows);
  const table = (title: string, totals: typeof perUser) => (
    <table className="w-full text-sm" aria-label={title}>
      <thead className="text-left text-muted-foreground">
        <tr>
          <th className="py-1 font-medium">{title}</th>
          <th className="py-1 text-right font-medium">Requests</th>
          <th className="py-1 text-right font-medium">Tokens</th>
          <th className="py-1 text-right font-medium">Cost</th>
        </tr>
      </thead>
      <tbody>
        {totals.map((t) => (
          <tr key={t.key} className="border-t border-border tabular-nums">
            <td className="py-1.5">{t.key}</td>
            <td className="py-1.5 text-right">{formatNumber(t.requests)}</td>
            <td className="py-1.5 text-right">{formatNumber(t.tokens)}</td>
            <td className="py-1.5 text-right">{formatNumber(t.cost, 4)}</td>
          </tr>
        ))}
        {!totals.length && (
          <tr>
            <td colSpan={4} className="py-2 text-muted-foreground">No usage in the last 30 days.</td>
          </tr>
        )}
      </tbody>
    </table>
  );
  return (
    <div className="space-y-6">
      {error && <p role="alert" className="text-sm text-destructive">{error}</p>}
      {daily.length > 0 && <BarChart data={daily} />}
      <div className="grid gap-6 md:grid-cols-2">
        {table("User", perUser)}
        {table("Model", perModel)}
      </div>
    </div>
  );
}

function Workers({ models }: { models: ModelInfo[] }) {
  return (
    <table className="w-full text-sm" aria-label="Live workers">
      <thead className="text-left text-muted-foreground">
        <tr>
          <th className="py-1 font-medium">Model</th>
          <th className="py-1 text-right font-medium">Live workers</th>
          <th className="py-1 text-right font-medium">Free slots</th>
        </tr>
      </thead>
      <tbody>
        {models.map((m) => (
          <tr key={m.name} className="border-t border-border tabular-nums">
            <td className="py-1.5">{m.name}</td>
            <td className="py-1.5 text-right">{m.workers}</td>
            <td className={cn("py-1.5 text-right", m.free_slots === 0 && "text-destructive")}>{m.free_slots}</td>
          </tr>
        ))}
        {!models.length && (
          <tr>
            <td colSpan={3} className="py-2 text-muted-foreground">No live workers.</td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

export function AdminView() {
  const models = useModels();
  const [users, setUsers] = useState<User[]>([]);
  return (
    <PageFrame title="Admin">
      <Section title="Workers" description="Models served by live inference workers (refreshed every 15 s).">
        <Workers models={models} />
      </Section>
      <Section title="Usage" description="Tokens per day, user and model over the last 30 days.">
        <Usage users={users} />
      </Section>
      <Section title="Users">
        <Users onUsers={setUsers} />
      </Section>
    </PageFrame>
  );
}
